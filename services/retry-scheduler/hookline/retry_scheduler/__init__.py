"""The retry scheduler: holds each delayed delivery until it is due, then puts it back."""

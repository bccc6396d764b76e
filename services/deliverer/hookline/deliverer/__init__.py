"""The deliverer: signs and POSTs deliveries, and hands failures to the retry topics."""

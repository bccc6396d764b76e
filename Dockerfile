# One image for the four services; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY shared ./shared
COPY services ./services
ENV PYTHONPATH=/app/shared:/app/services/api:/app/services/router:/app/services/deliverer:/app/services/retry-scheduler
USER nobody

# batchrelay daemon. Build: docker build -t batchrelay .   Run: docker run -p 8080:8080 -v br-data:/data batchrelay
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BATCHRELAY_HOST=0.0.0.0 \
    BATCHRELAY_STORE_URL=sqlite:////data/batchrelay.db

RUN useradd --create-home --uid 10001 batchrelay \
    && mkdir /data && chown batchrelay /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /app/src
COPY config/example.yaml /etc/batchrelay/config.yaml

USER batchrelay
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1

ENTRYPOINT ["batchrelay", "run"]
CMD ["-c", "/etc/batchrelay/config.yaml"]

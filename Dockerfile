# batchrelay daemon.
#   Build: docker build -t batchrelay .
#   Run:   docker run -p 8080:8080 -v br-data:/data --stop-timeout 30 batchrelay
#
# It listens on 0.0.0.0 and keeps its store in /data whatever config is mounted: the
# environment (BATCHRELAY_<SECTION>__<KEY>) wins over the file. Reload: docker kill -s HUP.
#
# Stop timeout: on SIGTERM the daemon stops its MNS pollers, then the HTTP server, each
# within server.drain_timeout (10 s), then commits what it holds; all of it within
# server.stop_timeout (25 s by default, past it the daemon exits anyway). Give it more
# than server.stop_timeout: 30 s here (docker run --stop-timeout 30, Compose
# stop_grace_period: 30s, Kubernetes terminationGracePeriodSeconds: 30). Docker's own
# default of 10 s would kill it mid-drain.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BATCHRELAY_SERVER__HOST=0.0.0.0 \
    BATCHRELAY_STORE__URL=sqlite:////data/batchrelay.db

RUN groupadd --gid 10001 batchrelay \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin batchrelay \
    && mkdir /data \
    && chown 10001:10001 /data

WORKDIR /app

# The dependencies, from pyproject.toml alone: a change to the source reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# Then batchrelay itself, without touching the dependencies.
COPY README.md LICENSE ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf /app/src /app/build
COPY config/example.yaml /etc/batchrelay/config.yaml

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]

ENTRYPOINT ["batchrelay", "run"]
CMD ["-c", "/etc/batchrelay/config.yaml"]

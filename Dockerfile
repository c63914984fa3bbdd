FROM python:3.11-slim
WORKDIR /app
# The runtime lock's exact versions, each file checked against its hash; a layer of its own, cached until the lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
# --no-deps: the lock installed them all. The data directory exists and is the user's, so a volume mounted there is writable.
RUN pip install --no-cache-dir --no-deps . && pip check && useradd --create-home lapsewatch \
    && install -d -o lapsewatch -g lapsewatch /home/lapsewatch/data
USER lapsewatch
ENV LAPSEWATCH_DATA_DIR=/home/lapsewatch/data
# The web port. The worker listens on loopback unless LAPSEWATCH_WEB_BIND says otherwise (0.0.0.0 for a
# published port, Kubernetes probes or Prometheus; README, "Web endpoints"), as docker-compose.yml does.
EXPOSE 6066
ENTRYPOINT ["lapsewatch"]
CMD ["worker"]

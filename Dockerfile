FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
# The data directory exists and is the user's, so a volume mounted there is writable.
RUN pip install --no-cache-dir . && useradd --create-home lapsewatch \
    && install -d -o lapsewatch -g lapsewatch /home/lapsewatch/data
USER lapsewatch
ENV LAPSEWATCH_DATA_DIR=/home/lapsewatch/data
EXPOSE 6066
ENTRYPOINT ["lapsewatch"]
CMD ["worker"]

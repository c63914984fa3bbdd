FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
RUN pip install --no-cache-dir . && useradd --create-home lapsewatch
USER lapsewatch
ENV LAPSEWATCH_DATA_DIR=/home/lapsewatch/data
EXPOSE 6066
ENTRYPOINT ["lapsewatch"]
CMD ["worker"]

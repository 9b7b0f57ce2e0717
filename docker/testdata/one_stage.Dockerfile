# Everything the lint refuses in a single-stage build.
FROM golang:latest
WORKDIR /src
COPY . .
RUN go build -o /bin/cgminer_exporter ./exporter
ENTRYPOINT /bin/cgminer_exporter

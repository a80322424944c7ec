# The outrider binary in a small image. Build: docker build -t outrider .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces Proto.Actor with the patched copy in third_party/.
COPY third_party ./third_party
RUN go mod download
COPY . .
# -tags kubernetes compiles in the kubernetes membership provider
# (client-go); -tags otlp the OpenTelemetry trace exporter
# (OUTRIDER_OTLP_ENDPOINT).
# .dockerignore leaves .git out, so the build stamps what these say:
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION=dev
ARG REVISION=
ARG BUILD_TIME=
RUN CGO_ENABLED=0 go build -trimpath -tags kubernetes,otlp \
    -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.buildTime=${BUILD_TIME}" \
    -o /out/outrider ./cmd/outrider

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/outrider /usr/local/bin/outrider
EXPOSE 8080
HEALTHCHECK CMD ["/usr/local/bin/outrider", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/outrider"]
CMD ["serve"]

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
RUN CGO_ENABLED=0 go build -trimpath -tags kubernetes,otlp -ldflags="-s -w" -o /out/outrider ./cmd/outrider

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/outrider /usr/local/bin/outrider
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/outrider"]
CMD ["serve"]

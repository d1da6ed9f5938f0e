# The wazero host with the guest module built in.
#
# NOTE: no container engine was available where this was written, so the
# image was never built; a test checks its sources and build commands.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t edgetoken-host .
#   docker run -p 8000:8000 -e SPEECH_RESOURCE_ID=... -e API_APP_ID=... edgetoken-host
#
# No setting and no secret is baked in: everything comes from the
# environment at run time (edgetoken-host -help lists it). The build commands
# match the Makefile's guest and host targets, plus the embed_guest tag and
# the version; host/dockerfile_test.go checks that they stay in step.

FROM golang:1.26 AS build
WORKDIR /src

# Module downloads get their own layer, so a source change does not repeat them.
COPY go.mod go.sum ./
RUN go mod download

COPY component/ component/
COPY internal/ internal/
COPY host/ host/

RUN GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o build/guest.wasm ./component
RUN cp build/guest.wasm host/guest.wasm

# CGO_ENABLED=0 makes a static binary, which the distroless static image needs.
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -tags embed_guest -ldflags="-X main.version=${VERSION}" -o build/edgetoken-host ./host

# distroless/static has no shell and no package manager; its nonroot user
# is uid 65532, whose home directory holds wazero's compilation cache.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/build/edgetoken-host /usr/local/bin/edgetoken-host
USER 65532:65532
ENV EDGETOKEN_ADDR=:8000
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/edgetoken-host"]

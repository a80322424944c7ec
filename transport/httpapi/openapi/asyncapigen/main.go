// Command asyncapigen writes asyncapi.json, the AsyncAPI 3.0 document of
// the WebSocket protocol, from asyncapi.skeleton.json (channels,
// operations, messages: hand-written) and openapi.json (the frame
// schemas: written once, there). Run it as `go generate
// ./transport/httpapi/openapi`; a test fails when the committed
// asyncapi.json is not what it makes.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	skeleton := flag.String("skeleton", "asyncapi.skeleton.json", "the hand-written part")
	openapi := flag.String("openapi", "openapi.json", "the OpenAPI document holding the schemas")
	out := flag.String("out", "asyncapi.json", "where to write the AsyncAPI document")
	flag.Parse()
	if err := run(*skeleton, *openapi, *out); err != nil {
		fmt.Fprintln(os.Stderr, "asyncapigen:", err)
		os.Exit(1)
	}
}

func run(skeletonPath, openapiPath, outPath string) error {
	sk, err := os.ReadFile(skeletonPath)
	if err != nil {
		return err
	}
	oa, err := os.ReadFile(openapiPath)
	if err != nil {
		return err
	}
	doc, err := Build(sk, oa)
	if err != nil {
		return err
	}
	return os.WriteFile(outPath, doc, 0o644)
}

// Command livenessprobe is a small stand-in for kubernetes-csi/livenessprobe, used by the csi-jfs
// test cluster while the upstream module cannot be fetched here. Like the upstream it serves
// /healthz on --http-endpoint (or :--health-port) and answers 200 only when the CSI driver on
// --csi-address answers Probe with ready (or unset) within --probe-timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "CSI driver socket inside this container")
	probeTimeout := flag.Duration("probe-timeout", time.Second, "timeout of each Probe call")
	healthPort := flag.Int("health-port", 9808, "port for /healthz when --http-endpoint is empty")
	httpEndpoint := flag.String("http-endpoint", "", "host:port for /healthz (overrides --health-port)")
	flag.Int("v", 0, "log verbosity (accepted for compatibility)")
	flag.Parse()

	conn, err := grpc.NewClient("unix://"+*csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("connecting to %s: %v", *csiAddress, err)
	}
	identity := csi.NewIdentityClient(conn)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *probeTimeout)
		defer cancel()
		res, err := identity.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			log.Printf("health check failed: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if res.GetReady() != nil && !res.GetReady().GetValue() {
			http.Error(w, "driver responded but is not ready", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	addr := *httpEndpoint
	if addr == "" {
		addr = ":" + strconv.Itoa(*healthPort)
	}
	log.Printf("serving /healthz on %s for %s", addr, *csiAddress)
	log.Fatal(http.ListenAndServe(addr, mux))
}

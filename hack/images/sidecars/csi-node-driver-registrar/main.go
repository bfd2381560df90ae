// Command csi-node-driver-registrar is a small stand-in for kubernetes-csi/node-driver-registrar,
// used by the csi-jfs test cluster while the upstream module cannot be fetched here. It takes
// the upstream flags the deploy manifests use and does what the upstream does for them: asks
// the CSI driver its name (GetPluginInfo), serves kubelet's plugin-registration API on
// <plugin-registration-path>/<driver>-reg.sock, answers /healthz while that socket exists,
// exits non-zero when kubelet reports a failed registration, and removes the socket on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type registrar struct {
	registerapi.UnimplementedRegistrationServer
	driverName, endpoint string
}

func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	log.Printf("kubelet asked for plugin info: %s at %s", r.driverName, r.endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.driverName,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		log.Printf("kubelet refused the registration of %s: %s; exiting so the container restarts", r.driverName, s.Error)
		os.Exit(1)
	}
	log.Printf("kubelet registered %s", r.driverName)
	return &registerapi.RegistrationStatusResponse{}, nil
}

func driverName(ctx context.Context, address string, timeout time.Duration) (string, error) {
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			if info.GetName() == "" {
				return "", errors.New("GetPluginInfo returned an empty driver name")
			}
			return info.GetName(), nil
		}
		log.Printf("GetPluginInfo on %s: %v (retrying)", address, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "CSI driver socket inside this container")
	kubeletPath := flag.String("kubelet-registration-path", "", "CSI driver socket path on the host, as kubelet sees it")
	regDir := flag.String("plugin-registration-path", "/registration", "kubelet plugin registry directory inside this container")
	httpEndpoint := flag.String("http-endpoint", "", "host:port for /healthz (empty: no HTTP server)")
	timeout := flag.Duration("timeout", time.Second, "timeout of each CSI call")
	flag.Int("v", 0, "log verbosity (accepted for compatibility)")
	mode := flag.String("mode", "registration", "only 'registration' is supported by this stand-in")
	flag.Parse()
	if *mode != "registration" {
		log.Fatalf("--mode=%q is not supported by this stand-in", *mode)
	}
	if *kubeletPath == "" {
		log.Fatal("--kubelet-registration-path is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	name, err := driverName(ctx, *csiAddress, *timeout)
	if err != nil {
		log.Fatalf("cannot learn the driver name from %s: %v", *csiAddress, err)
	}
	socket := filepath.Join(*regDir, name+"-reg.sock")
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatalf("removing stale %s: %v", socket, err)
	}
	lis, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("listening on %s: %v", socket, err)
	}
	server := grpc.NewServer()
	registerapi.RegisterRegistrationServer(server, &registrar{driverName: name, endpoint: *kubeletPath})
	go func() {
		if err := server.Serve(lis); err != nil {
			log.Fatalf("serving %s: %v", socket, err)
		}
	}()
	log.Printf("serving registration of %s (endpoint %s) on %s", name, *kubeletPath, socket)

	if *httpEndpoint != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			if _, err := os.Stat(socket); err != nil {
				http.Error(w, fmt.Sprintf("registration socket: %v", err), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		go func() { log.Fatal(http.ListenAndServe(*httpEndpoint, mux)) }()
	}

	<-ctx.Done()
	log.Printf("stopping: removing %s", socket)
	server.Stop()
	_ = os.Remove(socket)
}

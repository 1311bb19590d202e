// Reference peer for the kit's reflection parity test (reflection-parity.test.mjs):
// grpc-go's own server reflection (v1 and v1alpha) serving the descriptors of a
// FileDescriptorSet read at start, so no Go code is generated from the protos.
//
//	go build -o peer . && buf build -o set.binpb --as-file-descriptor-set --exclude-source-info
//	./peer -descriptors set.binpb -service trellis.user.v1.UserService
//
// The set's files answer first; grpc-go's compiled-in registry answers the rest,
// so grpc/reflection/v1/reflection.proto and grpc/health/v1/health.proto come
// from grpc-go itself (the canonical files). Extensions are the set's only.
// Prints "listening <host:port>" once serving, and exits when stdin closes (so
// it cannot outlive the test that started it) or on SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

type services []string

func (s *services) String() string     { return strings.Join(*s, ",") }
func (s *services) Set(v string) error { *s = append(*s, v); return nil }

// resolver answers from the set first, then from grpc-go's compiled-in files.
type resolver struct{ local *protoregistry.Files }

func (r resolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.local.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (r resolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.local.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

func main() {
	descriptors := flag.String("descriptors", "", "FileDescriptorSet (binary) to serve")
	var names services
	flag.Var(&names, "service", "fully-qualified service to register (repeatable)")
	flag.Parse()
	if err := run(*descriptors, names); err != nil {
		fmt.Fprintln(os.Stderr, "reflection-peer:", err)
		os.Exit(1)
	}
}

func run(descriptors string, names []string) error {
	raw, err := os.ReadFile(descriptors)
	if err != nil {
		return err
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(raw, set); err != nil {
		return fmt.Errorf("%s: %w", descriptors, err)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return err
	}
	types := &protoregistry.Types{}
	var register error
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		register = registerExtensions(types, fd.Extensions(), fd.Messages())
		return register == nil
	})
	if register != nil {
		return register
	}

	server := grpc.NewServer()
	for _, name := range names {
		desc, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
		service, ok := desc.(protoreflect.ServiceDescriptor)
		if !ok {
			return fmt.Errorf("%s is not a service", name)
		}
		server.RegisterService(serviceDesc(service), struct{}{})
	}
	healthpb.RegisterHealthServer(server, health.NewServer())
	options := reflection.ServerOptions{Services: server, DescriptorResolver: resolver{files}, ExtensionResolver: types}
	reflectionv1.RegisterServerReflectionServer(server, reflection.NewServerV1(options))
	reflectionv1alpha.RegisterServerReflectionServer(server, reflection.NewServer(options))

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		server.Stop()
	}()
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		<-signals
		server.Stop()
	}()
	fmt.Printf("listening %s\n", listener.Addr())
	return server.Serve(listener)
}

func registerExtensions(types *protoregistry.Types, extensions protoreflect.ExtensionDescriptors, messages protoreflect.MessageDescriptors) error {
	for i := 0; i < extensions.Len(); i++ {
		if err := types.RegisterExtension(dynamicpb.NewExtensionType(extensions.Get(i))); err != nil {
			return err
		}
	}
	for i := 0; i < messages.Len(); i++ {
		if err := registerExtensions(types, messages.Get(i).Extensions(), messages.Get(i).Messages()); err != nil {
			return err
		}
	}
	return nil
}

// serviceDesc registers the service's name and methods; every call is UNIMPLEMENTED
// (reflection only needs the server to know the service).
func serviceDesc(service protoreflect.ServiceDescriptor) *grpc.ServiceDesc {
	desc := &grpc.ServiceDesc{ServiceName: string(service.FullName()), HandlerType: (*any)(nil), Metadata: service.ParentFile().Path()}
	unimplemented := status.Error(codes.Unimplemented, "reflection peer")
	for i := 0; i < service.Methods().Len(); i++ {
		method := service.Methods().Get(i)
		if !method.IsStreamingClient() && !method.IsStreamingServer() {
			desc.Methods = append(desc.Methods, grpc.MethodDesc{
				MethodName: string(method.Name()),
				Handler: func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
					return nil, unimplemented
				},
			})
			continue
		}
		desc.Streams = append(desc.Streams, grpc.StreamDesc{
			StreamName:    string(method.Name()),
			Handler:       func(any, grpc.ServerStream) error { return unimplemented },
			ServerStreams: method.IsStreamingServer(),
			ClientStreams: method.IsStreamingClient(),
		})
	}
	return desc
}

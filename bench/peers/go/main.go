// Peer: grpc-go UserService on the same proto and the same dataset as the
// Node peers (the Go reference point).
//
//	bench/peers/go/build.sh && bench/peers/go/bin/user-server --port <n>
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "trellis.dev/bench/usergo/gen/userv1"
)

// Dataset: a reimplementation of bench/peers/dataset.mjs (keep both in step).
// 1,000 users; user i has id 00000000-0000-4000-8000-<i as 12 hex digits>,
// email user{i}@example.com, display_name "User {i}", roles [ROLE_MEMBER]
// (+ ROLE_ADMIN when i%10 == 0), etag "v1", create_time = update_time =
// 2026-01-01T00:00:00Z + i seconds.
const (
	userCount       = 1000
	defaultPageSize = 50
	maxPageSize     = 1000
)

func makeUsers() ([]*userv1.User, map[string]*userv1.User) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	list := make([]*userv1.User, userCount)
	byID := make(map[string]*userv1.User, userCount)
	for i := 0; i < userCount; i++ {
		roles := []userv1.Role{userv1.Role_ROLE_MEMBER}
		if i%10 == 0 {
			roles = append(roles, userv1.Role_ROLE_ADMIN)
		}
		u := &userv1.User{
			Id:          fmt.Sprintf("00000000-0000-4000-8000-%012x", i),
			Email:       fmt.Sprintf("user%d@example.com", i),
			DisplayName: fmt.Sprintf("User %d", i),
			Roles:       roles,
			Etag:        "v1",
			CreateTime:  &timestamppb.Timestamp{Seconds: base + int64(i)},
			UpdateTime:  &timestamppb.Timestamp{Seconds: base + int64(i)},
		}
		list[i] = u
		byID[u.Id] = u
	}
	return list, byID
}

type server struct {
	userv1.UnimplementedUserServiceServer // CreateUser, UpdateUser, DeleteUser, ImportUsers
	list                                  []*userv1.User
	byID                                  map[string]*userv1.User
}

func (s *server) GetUser(_ context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	u, ok := s.byID[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "user %s not found", req.GetId())
	}
	return &userv1.GetUserResponse{User: u}, nil
}

func (s *server) ListUsers(_ context.Context, req *userv1.ListUsersRequest) (*userv1.ListUsersResponse, error) {
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultPageSize
	}
	if size > maxPageSize {
		size = maxPageSize
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.ParseUint(t, 10, 31)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad page_token")
		}
		start = int(n)
	}
	start = min(start, len(s.list))
	end := min(start+size, len(s.list))
	next := ""
	if end < len(s.list) {
		next = strconv.Itoa(end)
	}
	return &userv1.ListUsersResponse{Users: s.list[start:end], NextPageToken: next}, nil
}

func (s *server) WatchUsers(req *userv1.WatchUsersRequest, stream grpc.ServerStreamingServer[userv1.WatchUsersResponse]) error {
	if req.GetIncludeSnapshot() {
		for _, u := range s.list {
			if err := stream.Send(&userv1.WatchUsersResponse{Type: userv1.ChangeType_CHANGE_TYPE_EXISTING, User: u}); err != nil {
				return err
			}
		}
		if err := stream.Send(&userv1.WatchUsersResponse{Type: userv1.ChangeType_CHANGE_TYPE_SNAPSHOT_END}); err != nil {
			return err
		}
	}
	return nil // the benchmark needs no live part: end the stream
}

func main() {
	port := flag.Int("port", -1, "TCP port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	if *port < 0 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "usage: user-server --port <n>")
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	list, byID := makeUsers()
	srv := grpc.NewServer()
	userv1.RegisterUserServiceServer(srv, &server{list: list, byID: byID})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		<-sig
		t := time.AfterFunc(2*time.Second, srv.Stop) // clients keeping streams open
		srv.GracefulStop()
		t.Stop()
		close(done)
	}()

	fmt.Printf("READY %d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-done
}

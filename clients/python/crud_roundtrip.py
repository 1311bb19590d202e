#!/usr/bin/env python3
"""Interop check: a Python gRPC client against the Trellis UserService.

Usage: crud_roundtrip.py ADDRESS [--gen-dir DIR]

ADDRESS is host:port of a running user service (plaintext). The protobuf/gRPC stubs are
not committed: pass --gen-dir with the output of

    python -m grpc_tools.protoc -I packages/api/proto -I packages/kit/proto \
        --python_out=DIR --grpc_python_out=DIR \
        packages/api/proto/trellis/user/v1/user.proto \
        packages/kit/proto/trellis/validate/v1/validate.proto

or leave it out and the script generates them into a temporary directory itself.

Checks Create -> Get -> Update (with etag) -> stale Update (ABORTED) -> Delete -> Get
(NOT_FOUND), the rich error model (INVALID_ARGUMENT with a google.rpc.BadRequest naming
the bad field, read with grpc_status.rpc_status.from_call), and UNIMPLEMENTED for a
method the server does not have. Prints one `ok - ...` / `FAIL - ...` line per check and
`python client: N passed, M failed`; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTOS = [
    "packages/api/proto/trellis/user/v1/user.proto",
    "packages/kit/proto/trellis/validate/v1/validate.proto",
]
TIMEOUT_S = 10.0


def generate_stubs(out_dir: str) -> None:
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        "-I", os.path.join(REPO_ROOT, "packages/api/proto"),
        "-I", os.path.join(REPO_ROOT, "packages/kit/proto"),
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
        *[os.path.join(REPO_ROOT, p) for p in PROTOS],
    ]
    subprocess.run(cmd, check=True)


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, msg: str) -> None:
        self.passed += 1
        print(f"ok - {msg}", flush=True)

    def fail(self, msg: str) -> None:
        self.failed += 1
        print(f"FAIL - {msg}", flush=True)

    def check(self, cond: bool, msg: str, detail: str = "") -> bool:
        if cond:
            self.ok(msg)
        else:
            self.fail(f"{msg}{': ' + detail if detail else ''}")
        return cond


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("address", help="host:port of the user service")
    ap.add_argument("--gen-dir", help="directory holding the generated *_pb2 modules")
    args = ap.parse_args()

    gen_dir = args.gen_dir
    tmp = None
    if gen_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="trellis-pygen-")
        gen_dir = tmp.name
        generate_stubs(gen_dir)
    sys.path.insert(0, gen_dir)

    import grpc
    from google.protobuf import field_mask_pb2
    from google.rpc import code_pb2, error_details_pb2
    from grpc_status import rpc_status
    from trellis.user.v1 import user_pb2, user_pb2_grpc

    r = Results()
    channel = grpc.insecure_channel(args.address)
    try:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT_S)
    except grpc.FutureTimeoutError:
        r.fail(f"connect to {args.address} within {TIMEOUT_S:.0f} s")
        print(f"python client: {r.passed} passed, {r.failed} failed")
        return 1
    stub = user_pb2_grpc.UserServiceStub(channel)

    def call(method, request):
        """Returns (status_code, response_or_error)."""
        try:
            resp = method(request, timeout=TIMEOUT_S)
            return grpc.StatusCode.OK, resp
        except grpc.RpcError as err:  # a grpc.Call as well
            return err.code(), err

    def expect(code, method, request, what):
        got, resp = call(method, request)
        detail = ""
        if got != code:
            detail = f"expected {code.name}, got {got.name}"
            if isinstance(resp, grpc.RpcError):
                detail += f" ({resp.details()})"
        r.check(got == code, f"{what} -> {code.name}", detail)
        return resp if got == code else None

    email = f"py-{uuid.uuid4().hex[:12]}@Example.com"

    # Create
    created = expect(grpc.StatusCode.OK, stub.CreateUser,
                     user_pb2.CreateUserRequest(email=email, display_name="Grace",
                                                roles=[user_pb2.ROLE_MEMBER]),
                     "CreateUser")
    if created is None:
        print(f"python client: {r.passed} passed, {r.failed + 1} failed (cannot continue)")
        return 1
    user = created.user
    r.check(bool(user.id) and bool(user.etag), "CreateUser returns id and etag",
            f"id={user.id!r} etag={user.etag!r}")
    r.check(user.email == email.lower(), "CreateUser stores the email lower-cased",
            f"got {user.email!r}")

    # Get
    got = expect(grpc.StatusCode.OK, stub.GetUser, user_pb2.GetUserRequest(id=user.id), "GetUser")
    if got is not None:
        r.check(got.user.id == user.id and got.user.display_name == "Grace"
                and list(got.user.roles) == [user_pb2.ROLE_MEMBER],
                "GetUser returns the created user", str(got.user).replace("\n", " "))

    # Update with the current etag
    upd_req = user_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user.id, display_name="Grace H.", etag=user.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )
    updated = expect(grpc.StatusCode.OK, stub.UpdateUser, upd_req, "UpdateUser with current etag")
    if updated is not None:
        r.check(updated.user.display_name == "Grace H." and updated.user.etag
                and updated.user.etag != user.etag,
                "UpdateUser applies the change and returns a new etag",
                f"display_name={updated.user.display_name!r} etag {user.etag!r} -> {updated.user.etag!r}")

    # Stale update: same request, old etag
    stale = expect(grpc.StatusCode.ABORTED, stub.UpdateUser, upd_req, "UpdateUser with stale etag")
    del stale

    # Rich error model: invalid email -> INVALID_ARGUMENT + BadRequest on "email"
    got_code, err = call(stub.CreateUser,
                         user_pb2.CreateUserRequest(email="not-an-email", display_name="X"))
    if r.check(got_code == grpc.StatusCode.INVALID_ARGUMENT,
               "CreateUser with invalid email -> INVALID_ARGUMENT", f"got {got_code.name}"):
        try:
            status = rpc_status.from_call(err)
        except ValueError as e:  # code/message in the details disagree with the call's
            status = None
            r.fail(f"grpc-status-details-bin is consistent with the call status: {e}")
        if r.check(status is not None, "rpc_status.from_call yields a google.rpc.Status",
                   "no grpc-status-details-bin trailer"):
            r.check(status.code == code_pb2.INVALID_ARGUMENT,
                    "google.rpc.Status.code is INVALID_ARGUMENT", f"got {status.code}")
            violations = []
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    br = error_details_pb2.BadRequest()
                    detail.Unpack(br)
                    violations.extend(br.field_violations)
            r.check(any(v.field == "email" for v in violations),
                    "details hold a google.rpc.BadRequest with a field violation on 'email'",
                    f"details={[d.type_url for d in status.details]} "
                    f"violations={[(v.field, v.description) for v in violations]}")

    # ListUsers with a negative page size -> INVALID_ARGUMENT
    expect(grpc.StatusCode.INVALID_ARGUMENT, stub.ListUsers,
           user_pb2.ListUsersRequest(page_size=-1), "ListUsers page_size=-1")

    # Delete, then Get -> NOT_FOUND
    expect(grpc.StatusCode.OK, stub.DeleteUser, user_pb2.DeleteUserRequest(id=user.id), "DeleteUser")
    expect(grpc.StatusCode.NOT_FOUND, stub.GetUser, user_pb2.GetUserRequest(id=user.id),
           "GetUser after delete")

    # A method the server does not implement, called with raw bytes.
    for path in ("/trellis.user.v1.UserService/Nope", "/trellis.nope.v1.NopeService/Nope"):
        raw = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        got_code, err = call(raw, b"")
        r.check(got_code == grpc.StatusCode.UNIMPLEMENTED, f"unknown method {path} -> UNIMPLEMENTED",
                f"got {got_code.name}")

    channel.close()
    if tmp is not None:
        tmp.cleanup()
    print(f"python client: {r.passed} passed, {r.failed} failed")
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

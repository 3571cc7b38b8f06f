"""Finding VRFs, and what bad input gets."""

import errno
import os
import socket
import subprocess

import pytest

import vrf_socket
from vrf_socket import NotAVrf, Vrf, VrfError, VrfNotFound


def ifindex(dev: str) -> int:
    with open(f"/sys/class/net/{dev}/ifindex") as f:
        return int(f.read())


def test_a_vrf_by_name_and_by_index(each):
    vrf = Vrf(each.vrf)
    assert vrf.name == each.vrf
    assert vrf.index == ifindex(each.vrf)
    assert vrf.table == each.table
    assert vrf.is_up is True
    assert str(vrf) == each.vrf
    assert each.vrf in repr(vrf)
    again = Vrf.by_index(vrf.index)
    assert again == vrf and hash(again) == hash(vrf)
    assert {v.name for v in vrf_socket.list_vrfs()} >= {each.vrf}


def test_the_two_vrfs_differ(blue, red):
    assert Vrf(blue.vrf) != Vrf(red.vrf)
    assert Vrf(blue.vrf).table == 10 and Vrf(red.vrf).table == 20


def test_slaves_and_the_vrf_of_a_device(each):
    vrf = Vrf(each.vrf)
    assert [s.name for s in vrf.slaves()] == [each.dev]
    assert vrf_socket.vrf_of_device(each.dev) == vrf
    assert vrf_socket.vrf_of_device(ifindex(each.dev)) == vrf
    # A device in no VRF.
    assert vrf_socket.vrf_of_device("lo") is None
    assert vrf_socket.vrf_of_device(1) is None


def test_an_unknown_vrf_is_vrf_not_found():
    with pytest.raises(VrfNotFound) as e:
        Vrf("nosuchvrf")
    assert isinstance(e.value, VrfError) and isinstance(e.value, OSError)
    assert e.value.errno == errno.ENODEV
    assert "nosuchvrf" in str(e.value) and "ip link add" in str(e.value)
    with pytest.raises(VrfNotFound):
        Vrf.by_index(999_999)
    with pytest.raises(VrfNotFound):
        vrf_socket.vrf_of_device("nosuchdev")


def test_a_device_that_is_not_a_vrf(each):
    with pytest.raises(NotAVrf) as e:
        Vrf("lo")
    assert isinstance(e.value, VrfError) and e.value.errno
    assert "lo" in str(e.value)
    # An enslaved device: the message names the VRF that was probably meant.
    with pytest.raises(NotAVrf) as e:
        Vrf(each.dev)
    assert each.vrf in str(e.value)
    with pytest.raises(NotAVrf):
        Vrf.by_index(1)


@pytest.mark.parametrize("bad", [5, None, b"blue", 1.5, ["blue"]])
def test_names_of_the_wrong_type(bad):
    with pytest.raises(TypeError):
        Vrf(bad)


@pytest.mark.parametrize("bad", ["", "x" * 16, "a/b", "a b", "."])
def test_names_no_device_can_have(bad):
    with pytest.raises((ValueError, VrfError)) as e:
        Vrf(bad)
    assert str(e.value)


@pytest.mark.parametrize("bad", [0, -1, 2**32, 2**70])
def test_indexes_no_device_can_have(bad):
    with pytest.raises((ValueError, OverflowError, VrfNotFound)):
        Vrf.by_index(bad)


def test_indexes_of_the_wrong_type():
    with pytest.raises(TypeError):
        Vrf.by_index("1")


def test_bound_vrf_of_bad_input(blue):
    with pytest.raises(TypeError):
        vrf_socket.bound_vrf("blue")
    s = socket.socket()
    s.close()
    with pytest.raises((OSError, ValueError)):
        vrf_socket.bound_vrf(s)
    with pytest.raises(OSError) as e:
        vrf_socket.bound_vrf(987_654)
    assert e.value.errno == errno.EBADF
    # A descriptor that is not a socket.
    with open("/dev/null") as f, pytest.raises(OSError):
        vrf_socket.bound_vrf(f.fileno())
    # An unbound socket is in no VRF.
    with socket.socket() as s:
        assert vrf_socket.bound_vrf(s) is None


def test_bad_socket_arguments(blue):
    vrf = Vrf(blue.vrf)
    with pytest.raises(OSError):
        vrf.socket(12345, socket.SOCK_STREAM)
    with pytest.raises(TypeError):
        vrf.socket("inet")
    with pytest.raises((TypeError, ValueError)):
        vrf.create_connection("10.99.0.2:80")
    with pytest.raises(socket.gaierror):
        vrf.getaddrinfo("nosuch.lab", "http-but-not-a-port-name-anyone-has")


@pytest.mark.root
def test_a_deleted_or_recreated_vrf_fails_closed():
    """A Vrf object names one device (its ifindex): once that device is gone, its sockets fail with
    ENODEV instead of opening unbound, even after a new VRF takes the same name."""
    name = f"pyx{os.getpid() % 100000}"

    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    ip("link", "add", name, "type", "vrf", "table", "4242")
    try:
        ip("link", "set", name, "up")
        old = Vrf(name)
        old.socket().close()
        ip("link", "del", name)
        for attempt in (
            lambda: old.socket(),
            lambda: old.socket(socket.AF_INET, socket.SOCK_DGRAM),
            lambda: old.create_connection(("10.99.0.2", 80), timeout=5),
            lambda: old.create_server(("", 0)),
        ):
            with pytest.raises(OSError) as e:
                attempt()
            assert e.value.errno == errno.ENODEV, e.value
        with pytest.raises(VrfNotFound):
            Vrf(name)
        ip("link", "add", name, "type", "vrf", "table", "4243")
        ip("link", "set", name, "up")
        new = Vrf(name)
        assert new.index != old.index and new.table == 4243
        with pytest.raises(OSError):
            old.socket()
        with new.socket() as s:
            assert vrf_socket.bound_vrf(s) == new
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=30)

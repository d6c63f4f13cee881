import socket

from egov.tools import processes
from egov.tools.processes import FIRST_LISTENING_PORT, ephemeral_ports_start, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_handed_out_once() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(FIRST_LISTENING_PORT <= port < ephemeral_ports_start() for port in ports)


def test_a_port_someone_listens_on_is_passed_over(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        # a range of two ports, the first of them taken
        monkeypatch.setattr(processes, "FIRST_LISTENING_PORT", taken)
        monkeypatch.setattr(processes, "ephemeral_ports_start", lambda: taken + 2)
        assert processes.free_port() == taken + 1

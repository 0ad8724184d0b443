# `hourglass coap`: decode (text/JSON, malformed -> exit 1 with the reason
# on stderr) and get/put/post/delete/fetch/observe with our client over UDP
# against our demo server (PyPI micropython), in-process through cli.main()
# plus the real console script once.
import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

from hourglass import cli
from procs import free_udp_port, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOURGLASS = os.path.join(ROOT, ".venv", "bin", "hourglass")
MP = os.path.join(ROOT, ".venv", "bin", "micropython")
DEMO = os.path.join(ROOT, "firmware", "coap_demo.py")


def run(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def server():
    port = free_udp_port()
    proc = subprocess.Popen([MP, DEMO, "--port", str(port), "--interval", "150", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        end = time.time() + 20
        while time.time() < end:
            s.sendto(bytes.fromhex("410100017fb568656c6c6f"), ("127.0.0.1", port))
            try:
                s.recvfrom(100)
                break
            except (socket.timeout, ConnectionRefusedError):
                time.sleep(0.05)
        else:
            pytest.fail("demo server did not start")
        s.close()
        yield "coap://127.0.0.1:%d" % port
    finally:
        stop_process(proc)


# ------------------------------------------------------------------ decode
def test_decode_text(capsys):
    code, out, err = run(capsys, "coap", "decode", "44010001 01020304 b568656c6c6f")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "CON 0.01 GET mid=1 (0x0001) token=01020304"
    assert 'Uri-Path' in out and '"hello"' in out


def test_decode_json_fields(capsys):
    # ACK 2.05, token aabbccdd, Content-Format 60 (c1 3c), Block2 0/1/1024 (b1 0e)
    code, out, err = run(capsys, "coap", "decode", "--json",
                         "6445abcd aabbccdd c13c b10e ff a0")
    assert code == 0, err
    d = json.loads(out)
    assert d["type"] == "ACK" and d["code"] == "2.05" and d["code_name"] == "Content"
    assert d["mid"] == 0xABCD and d["token"] == "aabbccdd"
    cf, b2 = d["options"]
    assert cf["number"] == 12 and cf["value"] == 60 and cf["media_type"] == "application/cbor"
    assert not cf["critical"] and cf["format"] == "uint"
    assert b2["name"] == "Block2"
    assert b2["block"] == {"num": 0, "more": True, "szx": 6, "size": 1024}
    assert b2["critical"] and b2["unsafe"]
    assert d["payload"] == "a0" and d["payload_length"] == 1


def test_decode_unknown_option_and_file(capsys, tmp_path):
    f = tmp_path / "m.bin"
    # NON GET, option 29 (delta 13 + 16: unknown, critical) = 01, payload "hi\n"
    f.write_bytes(bytes.fromhex("5001000a d11001 ff68690a".replace(" ", "")))
    code, out, err = run(capsys, "coap", "decode", "--json", "@" + str(f))
    assert code == 0, err
    d = json.loads(out)
    opt = d["options"][0]
    assert d["type"] == "NON" and opt["number"] == 29 and opt["name"] == "Unknown-29"
    assert opt["critical"] and "format" not in opt and opt["hex"] == "01"
    assert d["payload_text"] == "hi\n"


@pytest.mark.parametrize("hexs,reason", [
    ("40", "short header"),
    ("80010001", "version"),
    ("49010001", "token length"),
    ("40010001ff", "payload marker"),
    ("40010001f0", "reserved option delta"),
    ("zz", "neither hex"),
])
def test_decode_malformed_exit_1(capsys, hexs, reason):
    code, out, err = run(capsys, "coap", "decode", hexs)
    assert code == 1 and out == ""
    assert reason in err and err.startswith("hourglass coap:")


def test_decode_stdin_console_script():
    p = subprocess.run([HOURGLASS, "coap", "decode", "--json", "-"],
                       input=bytes.fromhex("40011234"), capture_output=True, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout)["mid"] == 0x1234
    p = subprocess.run([HOURGLASS, "coap", "nonsense"], capture_output=True, timeout=30)
    assert p.returncode == 2


# ------------------------------------------------------------------ requests
def test_get(capsys, server):
    code, out, err = run(capsys, "coap", "get", server + "/hello")
    assert code == 0, err
    assert out == "Hello, hourglass!\n"
    assert "2.05 Content" in err and "text/plain" in err


def test_get_block2_progress_and_output(capsys, server, tmp_path):
    dst = tmp_path / "big.bin"
    code, out, err = run(capsys, "coap", "get", server + "/big", "--output", str(dst))
    assert code == 0, err
    data = dst.read_bytes()
    assert len(data) == 65536
    assert bytes(((i * 7) + (i >> 8)) & 255 for i in range(16)) == data[:16]
    assert "/65536 bytes (" in err and "65536/65536 bytes (100%)" in err
    code, out, err = run(capsys, "coap", "get", server + "/big", "-o", str(dst), "--quiet",
                         "--block-size", "256")
    assert code == 0 and err == "" and dst.read_bytes() == data


def test_put_post_block1_and_delete(capsys, server, tmp_path):
    body = os.urandom(40000)
    src = tmp_path / "up.bin"
    src.write_bytes(body)
    code, out, err = run(capsys, "coap", "put", server + "/store", "--payload-file", str(src),
                         "--content-format", "octet-stream")
    assert code == 0, err
    assert out.strip() == hashlib.sha256(body).hexdigest()
    assert "2.04 Changed" in err and "40000/40000 bytes (100%)" in err
    code, out, err = run(capsys, "coap", "post", server + "/store", "--payload", "text body")
    assert code == 0 and out.strip() == hashlib.sha256(b"text body").hexdigest()
    code, out, err = run(capsys, "coap", "delete", server + "/store")
    assert code == 1 and "4.05 Method Not Allowed" in err


def test_fetch_and_errors(capsys, server):
    code, out, err = run(capsys, "coap", "fetch", server + "/hello", "--payload", "x")
    assert code == 1 and "4.05" in err
    code, out, err = run(capsys, "coap", "get", server + "/missing")
    assert code == 1 and "4.04 Not Found" in err
    code, out, err = run(capsys, "coap", "get", server + "/hello", "--accept", "json")
    assert code == 1 and "4.06" in err
    code, out, err = run(capsys, "coap", "put", server + "/store", "--payload", "x",
                         "--content-format", "no/such")
    assert code == 1 and "unknown Content-Format" in err


def test_discovery_query(capsys, server):
    code, out, err = run(capsys, "coap", "get", server + "/.well-known/core?rt=hourglass.hello")
    assert code == 0 and out.strip().startswith("</hello>") and "</big>" not in out


def test_observe_count(capsys, server):
    code, out, err = run(capsys, "coap", "observe", server + "/counter", "--count", "3",
                         "--timeout", "20")
    assert code == 0, err
    values = [int(x) for x in out.split()]
    assert len(values) == 3 and values == sorted(values)
    assert err.count("2.05 Content") == 3


def test_observe_block2(capsys, server):
    code, out, err = run(capsys, "coap", "observe", server + "/obs-big", "--count", "2",
                         "--timeout", "20")
    assert code == 0, err
    assert out.count("counter=") == 2


def test_non_and_echo(capsys, server):
    code, out, err = run(capsys, "coap", "get", server + "/hello", "--non")
    assert code == 0 and out == "Hello, hourglass!\n"
    code, out, err = run(capsys, "coap", "post", server + "/fresh", "--payload", "x")
    assert code == 0 and out.strip() == "fresh"  # the Echo challenge is answered


def test_timeout_and_bad_uri(capsys):
    port = free_udp_port()
    t0 = time.time()
    code, out, err = run(capsys, "coap", "get", "coap://127.0.0.1:%d/x" % port, "--timeout", "1.5")
    assert code == 1 and time.time() - t0 < 10
    assert "timeout" in err or "reset" in err or "acknowledgement" in err or "refused" in err
    code, out, err = run(capsys, "coap", "get", "http://127.0.0.1/x")
    assert code in (1, 2) and "coap://" in err

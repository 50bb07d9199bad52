"""Sizes and times of a backup's phases on this machine, against Azurite: `python -m tests.backup.measure_azurite`.

Not a test (pytest does not collect it). For each archive size (MiB, arguments; default 32 256): encrypt with
`openssl cms -encrypt -stream` (AES-256-GCM), upload in 8 MiB blocks with the backup's Blob client, list and
download with its SHA-256, decrypt with `openssl cms -decrypt`; then how fast the upload step counts an archive.
The archive stand-in is random bytes (incompressible, like gzip output); peak memory is the child's max RSS.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.backup.azurite import Azurite
from tests.backup.fakes.bsonenc import build_archive
from workloads.backup.pod.archive import summarize_file
from workloads.backup.pod.blob import BlobClient, ContainerSas, read_blocks
from workloads.backup.pod.profiles import MIB

TIME = shutil.which("time") or "/usr/bin/time"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def timed(command: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of a command."""
    start = time.monotonic()
    result = subprocess.run([TIME, "-f", "%M", *command], capture_output=True, text=True, check=True)
    return time.monotonic() - start, int(result.stderr.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    for name in [k for k in os.environ if "proxy" in k.lower()]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", str(root / "key.pem"),
                        "-out", str(root / "cert.pem"), "-subj", "/CN=m", "-days", "1"], check=True,
                       capture_output=True)  # fmt: skip
        azurite = Azurite(root / "azurite")
        try:
            container = azurite.container()
            for size in sizes:
                plain, sealed, back = root / "archive.gz", root / "archive.gz.cms", root / "back.cms"
                with plain.open("wb") as out:
                    for _ in range(size):
                        out.write(os.urandom(MIB))
                encrypt = [OPENSSL, "cms", "-encrypt", "-binary", "-stream", "-aes-256-gcm", "-outform", "DER"]
                recipient = ["-recip", str(root / "cert.pem"), "-keyopt", "rsa_padding_mode:oaep"]
                enc_s, enc_kib = timed([*encrypt, "-in", str(plain), "-out", str(sealed), *recipient])
                client = BlobClient(ContainerSas.parse(container.sas_url("rcwl")))
                name = f"hub/m{size}/archive.gz.cms"
                start = time.monotonic()
                blocks = 0
                with sealed.open("rb") as stream:
                    for index, block in enumerate(read_blocks(stream, 8 * MIB)):
                        client.put_block(name, index, block)
                        blocks += 1
                client.put_block_list(name, blocks, sealed.stat().st_size, "application/pkcs7-mime")
                up_s = time.monotonic() - start
                start = time.monotonic()
                client.list("hub/")
                got, _ = client.download(name, back)
                down_s = time.monotonic() - start
                dec_s, dec_kib = timed([OPENSSL, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(back),
                                        "-inkey", str(root / "key.pem"), "-out", str(root / "plain.out")])  # fmt: skip
                overhead = sealed.stat().st_size - size * MIB
                print(f"{size} MiB: encrypt {enc_s:.2f} s ({enc_kib // 1024} MiB peak), overhead {overhead} bytes; "
                      f"upload {blocks} blocks {up_s:.2f} s ({size / up_s:.0f} MiB/s); list+download+sha256 "
                      f"{down_s:.2f} s ({got // MIB} MiB); decrypt {dec_s:.2f} s ({dec_kib // 1024} MiB peak)",
                      flush=True)  # fmt: skip
                for path in (plain, sealed, back, root / "plain.out"):
                    path.unlink()
            dataset = {"collections": {"db.a": {"documents": 200_000}, "db.b": {"documents": 50_000}}, "pad": 200}
            archive = root / "count.gz"
            archive.write_bytes(gzip.compress(build_archive(dataset), compresslevel=1))
            start = time.monotonic()
            summary = summarize_file(archive)
            count_s = time.monotonic() - start
            print(f"counting: {sum(summary.collections.values())} documents, {summary.uncompressed_bytes // MIB} MiB "
                  f"uncompressed ({archive.stat().st_size // 1024} KiB gzip) in {count_s:.2f} s")  # fmt: skip
        finally:
            azurite.stop()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [32, 256])

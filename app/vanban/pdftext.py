"""Text of one PDF, in a child process: `python -m vanban.pdftext MAX_CHARS < file.pdf > text.txt`.

The job worker runs pypdf here rather than in itself (core/indexing.py):
- a PDF comes from outside (another agency, a scanner, a citizen) and a hostile or broken one can make a parser
  loop or balloon: here it meets this process's CPU and memory limits, not the worker's;
- pypdf brings cryptography, Pillow and fontTools with it, 17 MB that a long-lived worker would keep resident
  for good after its first PDF. A child costs about 0.1 s of start-up per attachment.
Exit status: 0 with the text on stdout (empty for an encrypted PDF, which is not indexed), 1 on a file pypdf
cannot read (the message on stderr).
"""
from __future__ import annotations

import resource
import sys

CPU_SECONDS = 60
ADDRESS_SPACE = 1 << 30  # 1 GiB: a 50 MB PDF parses in a fraction of that


def extract(data: bytes, max_chars: int) -> str:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        return ""
    parts, total = [], 0
    for page in reader.pages:
        chunk = page.extract_text() or ""
        parts.append(chunk)
        total += len(chunk)
        if total > max_chars:
            break
    return "\n".join(parts)[:max_chars]


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    max_chars = int(argv[0]) if argv else 200_000
    data = sys.stdin.buffer.read()
    try:
        text = extract(data, max_chars)
    except Exception as exc:  # noqa: BLE001 - any parser failure: reported to the parent, which logs it
        print(f"{type(exc).__name__}: {exc}"[:500], file=sys.stderr)
        return 1
    sys.stdout.buffer.write(text.encode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

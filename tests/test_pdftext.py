"""PDF text extraction runs pypdf in a child process with CPU and memory limits (vanban/pdftext.py)."""
import io
import logging

from conftest import make_pdf
from vanban.core import indexing


def test_text_of_a_vietnamese_pdf():
    text = indexing.extract_text(make_pdf("Quyết định về quản lý đất đai tỉnh Đồng Nai, thửa đất 0815"),
                                 "application/pdf")
    assert "Đồng Nai" in text and "0815" in text


def test_broken_pdf_gives_no_text_and_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="vanban.core.indexing"):
        assert indexing.extract_text(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\n%%EOF", "application/pdf") == ""
    assert "text extraction failed (exit 1)" in caplog.text


def test_encrypted_pdf_is_not_indexed():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf("mật"))))
    writer.encrypt("secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    assert indexing.extract_text(out.getvalue(), "application/pdf") == ""


def test_a_parser_that_takes_too_long_is_stopped(monkeypatch, caplog):
    monkeypatch.setattr(indexing, "PDF_TIMEOUT_SECONDS", 0.01)  # any real start-up takes longer than this
    with caplog.at_level(logging.WARNING, logger="vanban.core.indexing"):
        assert indexing.extract_text(make_pdf("chậm"), "application/pdf") == ""
    assert "gave up" in caplog.text


def test_child_runs_under_limits():
    """main() sets the limits before it reads the file: read them back in a child that ran it."""
    import subprocess
    import sys

    probe = ("import io, resource, sys; import vanban.pdftext as p; sys.stdin = io.TextIOWrapper(io.BytesIO(b'x')); "
             "p.main([]); print(resource.getrlimit(resource.RLIMIT_CPU)[0], resource.getrlimit(resource.RLIMIT_AS)[0])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert out.stdout.split()[-2:] == ["60", str(1 << 30)]

"""Agency PKI and PAdES signatures for outgoing documents (NĐ 30/2020 Phụ lục I).

A pure library: no web framework, no database. The document workflow calls
:mod:`vanban.signing.pki` to load keys and :mod:`vanban.signing.pdf` to sign,
seal, stamp and verify PDFs; :mod:`vanban.signing.cli` adds ``vanban pki``.

Every refusal is a :class:`SigningError` with a stable ``code`` for machines and
a Vietnamese ``message`` for the user. Nothing is written when one is raised.
"""

from __future__ import annotations

# code -> Vietnamese message shown to users. Codes are stable API: the web
# layer maps them to HTTP answers and tests assert on them.
MESSAGES: dict[str, str] = {
    "wrong_passphrase": "Mật khẩu khóa ký không đúng hoặc tệp khóa bị hỏng.",
    "weak_passphrase": "Mật khẩu bảo vệ khóa phải có ít nhất 8 ký tự.",
    "passphrase_missing": "Chưa cung cấp mật khẩu bảo vệ khóa.",
    "cert_expired": "Chứng thư số đã hết hạn hoặc chưa có hiệu lực tại thời điểm ký.",
    "cert_revoked": "Chứng thư số đã bị thu hồi.",
    "cert_untrusted": "Chứng thư số không chuỗi được tới CA gốc tin cậy.",
    "cert_unsuitable": "Chứng thư số không dùng được để ký văn bản (thiếu mục đích chống chối bỏ).",
    "pki_exists": "Hạ tầng khóa đã được khởi tạo, không ghi đè.",
    "pki_missing": "Chưa khởi tạo CA gốc; chạy 'vanban pki init-root' trước.",
    "agency_exists": "Cơ quan này đã có CA cấp chứng thư.",
    "agency_unknown": "Chưa có CA cho cơ quan này.",
    "agency_code_invalid": "Mã định danh cơ quan không hợp lệ (tối đa 35 ký tự A-Z, 0-9 và dấu chấm).",
    "name_invalid": "Tên không hợp lệ.",
    "cert_unknown": "Không tìm thấy chứng thư số.",
    "already_revoked": "Chứng thư số này đã bị thu hồi trước đó.",
    "p12_invalid": "Tệp PKCS#12 không chứa khóa riêng và chứng thư số.",
    "pdf_encrypted": "Tệp PDF được mã hóa; không thể ký hoặc kiểm tra.",
    "pdf_corrupt": "Tệp PDF bị hỏng hoặc không phải PDF.",
    "pdf_not_signed": "Văn bản chưa có chữ ký của người có thẩm quyền.",
    "issue_fields_missing": "Văn bản không có ô số, ký hiệu và ngày ban hành để điền.",
    "authority_prefix_invalid": "Quyền hạn ký không hợp lệ (TM., Q., KT., TL., TUQ.).",
    "number_invalid": "Số, ký hiệu văn bản không hợp lệ (ví dụ 05/UBND-VP, 15/QĐ-UBND).",
    "layout_invalid": "Vị trí chữ ký nằm ngoài trang hoặc không hợp lệ.",
    "image_invalid": "Ảnh chữ ký hoặc con dấu không đọc được (cần PNG).",
    "tsa_failed": "Không lấy được dấu thời gian từ máy chủ cấp dấu thời gian (TSA).",
    "sign_failed": "Không ký được tệp PDF.",
    "convert_missing": "Không tìm thấy LibreOffice để chuyển DOCX sang PDF.",
    "convert_timeout": "Chuyển DOCX sang PDF quá thời gian cho phép.",
    "convert_failed": "Không chuyển được tệp sang PDF.",
}


class SigningError(Exception):
    """A refusal from the signing library: ``code`` for machines, ``message`` in Vietnamese."""

    def __init__(self, code: str, detail: str | None = None):
        self.code = code
        self.message = MESSAGES.get(code, "Lỗi ký số.")
        # detail is for operators and logs; it never contains key material or passphrases.
        self.detail = detail
        super().__init__(f"{code}: {self.message}" + (f" ({detail})" if detail else ""))


__all__ = ["MESSAGES", "SigningError"]

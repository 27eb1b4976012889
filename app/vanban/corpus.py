"""Realistic Vietnamese official documents for the demo province and the benchmarks.

Subjects are assembled from the phrases that dominate real registers (about half of all documents are công văn;
"về việc", "triển khai", "kế hoạch", "Ủy ban nhân dân" recur everywhere), so word frequencies follow the skewed
distribution a real corpus has: a few very common terms and a long tail of place names and topics."""
from __future__ import annotations

import random

PROVINCE = "Đồng Nai"
DISTRICTS = ["Nhơn Trạch", "Long Thành", "Trảng Bom", "Vĩnh Cửu", "Định Quán", "Tân Phú", "Xuân Lộc",
             "Cẩm Mỹ", "Thống Nhất"]
COMMUNES = ["Phú Hữu", "Phước Thiền", "Long Tân", "Đại Phước", "Phú Đông", "Vĩnh Thanh", "Hiệp Phước",
            "Phước An", "Long Thọ", "Phú Thạnh", "Phú Hội", "Phước Khánh"]
ISSUERS = [  # (name, code, notation of a Công văn, share)
    ("UBND tỉnh Đồng Nai", "H19", "UBND-KTN", 14), ("Văn phòng UBND tỉnh Đồng Nai", "H19.01", "VPUBND-HCTC", 6),
    ("Sở Tài nguyên và Môi trường tỉnh Đồng Nai", "H19.22", "STNMT-QLĐĐ", 9),
    ("Sở Nội vụ tỉnh Đồng Nai", "H19.12", "SNV-CCVC", 7), ("Sở Tài chính tỉnh Đồng Nai", "H19.18", "STC-NS", 6),
    ("Sở Kế hoạch và Đầu tư tỉnh Đồng Nai", "H19.10", "SKHĐT-ĐT", 5),
    ("Sở Xây dựng tỉnh Đồng Nai", "H19.19", "SXD-QLXD", 4), ("Sở Giáo dục và Đào tạo tỉnh Đồng Nai", "H19.08", "SGDĐT-VP", 4),
    ("Sở Y tế tỉnh Đồng Nai", "H19.25", "SYT-NVY", 4), ("Công an tỉnh Đồng Nai", "H19.30", "CAT-PV01", 3),
    ("Huyện ủy Nhơn Trạch", "H19.42", "HU-VP", 5), ("Văn phòng Chính phủ", "G22", "VPCP-KGVX", 2),
    ("Bộ Nội vụ", "G12", "BNV-VTLTNN", 2), ("Bộ Tài nguyên và Môi trường", "G19", "BTNMT-QLĐĐ", 2),
    ("UBND xã Phú Hữu", "H19.42.01", "UBND-VP", 5), ("UBND xã Phước Thiền", "H19.42.02", "UBND-VP", 4),
    ("Kho bạc Nhà nước Nhơn Trạch", "H19.60", "KBNN-KSC", 3), ("Chi cục Thuế khu vực Nhơn Trạch", "H19.61", "CCT-NV", 3),
]
TYPES = [("CV", 46), ("QD", 14), ("KH", 8), ("BC", 8), ("TB", 7), ("GM", 6), ("TTR", 4), ("HD", 3), ("CT", 1),
         ("NQ", 1), ("CTR", 1), ("QYD", 1)]
TYPE_LEAD = {"QD": "Quyết định", "KH": "Kế hoạch", "BC": "Báo cáo", "TB": "Thông báo", "GM": "Giấy mời",
             "TTR": "Tờ trình", "HD": "Hướng dẫn", "CT": "Chỉ thị", "NQ": "Nghị quyết", "CTR": "Chương trình",
             "QYD": "Quy định"}
ACTIONS = [("triển khai thực hiện", 10), ("đôn đốc thực hiện", 6), ("tăng cường công tác", 8),
           ("tổ chức thực hiện", 6), ("báo cáo kết quả thực hiện", 6), ("góp ý dự thảo", 5),
           ("phê duyệt", 5), ("giao đất cho hộ gia đình, cá nhân", 4), ("thu hồi đất để thực hiện dự án", 4),
           ("cho thuê đất", 2), ("kiểm tra, rà soát", 5), ("tổng kết", 3), ("xử lý vi phạm về", 3),
           ("bổ nhiệm, điều động cán bộ", 2), ("phân bổ dự toán ngân sách", 3), ("tuyển dụng viên chức", 2),
           ("cấp giấy chứng nhận quyền sử dụng đất", 4), ("chuyển mục đích sử dụng đất", 3),
           ("hỗ trợ, tái định cư", 2), ("quyết toán vốn đầu tư", 2)]
TOPICS = [("công tác quản lý đất đai", 10), ("phòng, chống thiên tai", 4), ("cải cách hành chính", 8),
          ("chuyển đổi số", 6), ("xây dựng nông thôn mới", 6), ("phòng, chống dịch bệnh", 3),
          ("an toàn giao thông", 4), ("bảo vệ môi trường", 5), ("thu ngân sách nhà nước", 4),
          ("giải phóng mặt bằng", 5), ("công tác cán bộ", 4), ("phòng cháy, chữa cháy", 3),
          ("dự án khu công nghiệp", 4), ("tiếp công dân, giải quyết khiếu nại, tố cáo", 4),
          ("kế hoạch sử dụng đất năm 2026", 3), ("giáo dục và đào tạo", 3), ("y tế cơ sở", 2),
          ("quốc phòng, an ninh", 2), ("đầu tư công", 5), ("hồ sơ địa chính", 3), ("văn thư, lưu trữ", 2)]
TAILS = [("", 30), ("trên địa bàn huyện", 20), ("tại xã {commune}, huyện Nhơn Trạch, tỉnh Đồng Nai", 14),
         ("trên địa bàn tỉnh Đồng Nai", 14), ("năm 2026", 10), ("quý IV năm 2026", 4),
         ("6 tháng đầu năm 2026", 4), ("giai đoạn 2026 - 2030", 4)]


def _pick(rng, weighted):
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights=weights)[0]


def subject(rng: random.Random, doc_type: str) -> str:
    action, topic = _pick(rng, ACTIONS), _pick(rng, TOPICS)
    tail = _pick(rng, TAILS).format(commune=rng.choice(COMMUNES))
    body = f"{action} {topic}" + (f" {tail}" if tail else "")
    if doc_type == "CV":
        return f"V/v {body}"
    lead = TYPE_LEAD.get(doc_type, "Văn bản")
    if doc_type == "GM":
        return f"Giấy mời dự họp về {topic} {tail}".strip()
    return f"{lead} về việc {body}"


def notation(issuer_notation: str, doc_type: str, abbreviations: dict) -> str:
    if doc_type == "CV":
        return issuer_notation
    agency_part = issuer_notation.split("-")[0]
    return f"{abbreviations.get(doc_type) or doc_type}-{agency_part}"


def document(rng: random.Random, abbreviations: dict) -> dict:
    doc_type = _pick(rng, TYPES)
    name, code, cv_notation, _ = rng.choices(ISSUERS, weights=[i[3] for i in ISSUERS])[0]
    return {"doc_type": doc_type, "issuer_name": name, "issuer_code": code,
            "number": str(rng.randint(1, 2400)).zfill(2), "notation": notation(cv_notation, doc_type, abbreviations),
            "subject": subject(rng, doc_type), "urgency": _pick(rng, [(0, 85), (1, 10), (2, 4), (3, 1)])}

"""Document types, urgency and confidentiality (NĐ 30/2020/NĐ-CP Điều 7, Phụ lục III; DOMAIN.md §2, §4)."""
from __future__ import annotations

# (code used in this system, Vietnamese name, notation abbreviation or "" where the decree gives none)
DOC_TYPES = [
    ("NQ", "Nghị quyết", "NQ"), ("QD", "Quyết định", "QĐ"), ("CT", "Chỉ thị", "CT"),
    ("QC", "Quy chế", "QC"), ("QYD", "Quy định", "QyĐ"), ("TC", "Thông cáo", "TC"),
    ("TB", "Thông báo", "TB"), ("HD", "Hướng dẫn", "HD"), ("CTR", "Chương trình", "CTr"),
    ("KH", "Kế hoạch", "KH"), ("PA", "Phương án", "PA"), ("DA", "Đề án", "ĐA"),
    ("DAN", "Dự án", "DA"), ("BC", "Báo cáo", "BC"), ("BB", "Biên bản", "BB"),
    ("TTR", "Tờ trình", "TTr"), ("HDG", "Hợp đồng", "HĐ"), ("CV", "Công văn", ""),
    ("CD", "Công điện", "CĐ"), ("BGN", "Bản ghi nhớ", "BGN"), ("BTT", "Bản thỏa thuận", "BTT"),
    ("GUQ", "Giấy ủy quyền", "GUQ"), ("GM", "Giấy mời", "GM"), ("GGT", "Giấy giới thiệu", "GGT"),
    ("GNP", "Giấy nghỉ phép", "GNP"), ("PG", "Phiếu gửi", "PG"), ("PC", "Phiếu chuyển", "PC"),
    ("PB", "Phiếu báo", "PB"), ("THC", "Thư công", ""),
]
TYPE_NAMES = {code: name for code, name, _ in DOC_TYPES}
TYPE_ABBREV = {code: abbr for code, _, abbr in DOC_TYPES}

# DOMAIN.md §4; the numbers are also the edXML Priority codes (unconfirmed, kept configurable there).
URGENCY = {0: "Thường", 1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc"}
CONFIDENTIALITY = {0: "Thường", 1: "Mật", 2: "Tối mật", 3: "Tuyệt mật"}
MEDIUM = {"electronic": "Điện tử", "paper": "Giấy"}

STATUS_NAMES = {
    "registered": "Chờ trình",
    "presented": "Chờ chỉ đạo",
    "in_progress": "Đang xử lý",
    "done": "Hoàn thành",
}
ASSIGNMENT_STATUS = {"waiting": "Chờ xử lý", "in_progress": "Đang xử lý", "done": "Hoàn thành",
                     "overdue": "Quá hạn"}
ROLE_NAMES = {"present": "Trình lãnh đạo", "lead": "Chủ trì", "co": "Phối hợp", "info": "Nhận để biết"}

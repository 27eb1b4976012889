"""vanban: the e-Office (Quản lý văn bản và điều hành) appliance of a Vietnamese province."""

__version__ = "0.1.0"

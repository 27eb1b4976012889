"""Fabric entry point: `cd appliance && fab -H quantri@may-chu status` (or `fab -r appliance ...`).

The tasks live in tasks/, one module per concern; README.md explains them in Vietnamese and English.
"""
from tasks import build_collection

ns = build_collection()

"""Indicators the province is measured on (QĐ 766/QĐ-TTg, provincial DTI), live from the events."""

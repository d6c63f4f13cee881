"""The document-management-and-executive system (hệ thống quản lý văn bản và điều hành)."""

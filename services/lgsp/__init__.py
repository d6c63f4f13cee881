"""The provincial integration and data-sharing platform (LGSP, Thông tư 13/2017/TT-BTTTT Art. 17)."""

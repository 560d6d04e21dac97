"""One module per family of the OpenSHMEM 1.5 C interface; see ../gen_headers.py."""

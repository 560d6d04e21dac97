"""p2p: see gen_headers.py for the functions a family module defines."""

"""The pieces of the Streamlit dashboard (``app.py``): pure helpers (uploads, runs, what-if) and page renderers.

Modules without ``streamlit`` in their imports (``uploads``, ``runs``, ``whatif_compute``, ``sections``) are plain
functions tested directly; the others draw the pages.
"""
__all__: list[str] = []

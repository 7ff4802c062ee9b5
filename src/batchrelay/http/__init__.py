"""The HTTP surface: every route registered in ``routes``, one module per resource,
shared helpers in ``common``, access rules in ``access``, bounds in ``limits``."""

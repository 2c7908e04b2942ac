"""The local backend (`backend.py`): each run is a supervised process group in its own directory.

Empty of imports so that the supervisor module starts in milliseconds.
"""

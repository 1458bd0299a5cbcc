"""Office-31 (Amazon, DSLR, Webcam): for now only the ``office31`` suite and the table it is compared with.

The datasets and tasks are not registered yet; the suite names the task names they will have.
"""

"""The backup at a glance: ``palxfel-globus report`` and the recovery point that ``status`` and ``scans list`` show.

``figures`` turns the rows of ``scans list`` (read on the DAQ host by the list_scans Compute function) into what a
data manager is asked about; ``charts`` draws them as inline SVG; ``page`` makes the one self-contained HTML file;
``words`` holds every sentence in English and in Korean.
"""

"""Built-in traffic-sign datasets (SynSigns, GTSRB) and the SynSigns -> GTSRB adaptation task."""

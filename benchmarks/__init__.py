"""docexit.benchmarks"""

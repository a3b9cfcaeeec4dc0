"""docexit.corpus"""

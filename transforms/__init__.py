"""docexit.transforms"""

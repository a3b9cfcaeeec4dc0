"""docexit.models"""

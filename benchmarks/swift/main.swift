// Placeholder: the Swift benchmark is being written.
print("swift benchmark: not written yet")

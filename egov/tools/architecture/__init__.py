"""The architecture as code: the model (`architecture/model.yaml`), its checks against the code (`verify`)
and against live traffic (`observe`), and the generated architecture document (`docs`)."""

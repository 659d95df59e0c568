"""Face geometry shared by every stage: alignment to the mean face and the face crops (`alignment`),
landmark masks (`masks`) and head pose (`pose`). Pure maths on landmarks and images, importing no stage."""

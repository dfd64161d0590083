# Image decoding and preprocessing (datasets/image.c, datasets/transform.c) against PIL +
# torchvision 0.14; reference: tests/data/images/ref.json from
# tests/reference/gen_image_vectors.py. test_image_bounds: hostile headers and huge resizes
# (tests/data/images/bad/gen_hostile.py).
foreach(t decode resize preprocess bounds)
  vssm_add_test(test_image_${t} test_image_${t}.c test_image_util.c)
  set_tests_properties(test_image_${t} PROPERTIES LABELS image)
endforeach()

# Evaluation under mpirun (tools/mpi_shard.c): every eval verb, `vssm reid extract` and
# `vssm track --dataset` with mpirun -n 1, 2, 3 give the single-process report exactly.
# Only when the build has MPI (VSSM_MPI); skipped (77) when mpirun is absent.
if(VSSM_HAVE_MPI)
  add_test(NAME test_mpi_eval COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi_eval.sh $<TARGET_FILE:vssm>
                                      ${MPIEXEC_EXECUTABLE})
  set_tests_properties(test_mpi_eval PROPERTIES LABELS mpi SKIP_RETURN_CODE 77 TIMEOUT 900)
endif()

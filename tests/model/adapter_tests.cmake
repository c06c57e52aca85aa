# test_torch_adapter: the LibTorch adapter (posenc::torch): finite-difference and float64-reference
# gradient checks, forward equality with the eager LibTorch formulas, modules, f16/bf16, errors,
# determinism. Needs LibTorch.
if(NOT POSENC_HAVE_TORCH)
  return()
endif()
# test_torch_adapter_audit.cpp: regressions from the adapter's audit (position ids changed after forward,
# double backward, sparse and negated views, bias lengths, TokenEmbedding's position ids);
# test_torch_double_backward.cpp: gradients of gradients (create_graph) through learned_add, embed and
# t5_bias (gradgradcheck and float64 references); one executable.
add_executable(test_torch_adapter ${CMAKE_CURRENT_LIST_DIR}/test_torch_adapter.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/test_torch_adapter_audit.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/test_torch_double_backward.cpp)
target_compile_options(test_torch_adapter PRIVATE -Wall -Wextra)
target_link_libraries(test_torch_adapter PRIVATE posenc::torch GTest::gtest_main)
# Reuse posenc_torch's precompiled <torch/torch.h> (about a minute per translation unit otherwise). The
# header is built with -fPIC; an executable's default -fPIE would make GCC ignore it (-Winvalid-pch).
if(COMMAND posenc_use_torch_pch)
  posenc_use_torch_pch(test_torch_adapter)
else()
  set_target_properties(test_torch_adapter PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(test_torch_adapter PRIVATE -fPIC)
  target_precompile_headers(test_torch_adapter REUSE_FROM posenc_torch)
endif()
gtest_discover_tests(test_torch_adapter DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 300)

# The model, trainer and checkpoints (LibTorch).
if(NOT POSENC_HAVE_TORCH)
  return()
endif()
add_executable(test_model ${CMAKE_CURRENT_LIST_DIR}/test_model.cpp)
target_link_libraries(test_model PRIVATE posenc::model GTest::gtest_main)
posenc_use_torch_pch(test_model)
gtest_discover_tests(test_model DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 600)

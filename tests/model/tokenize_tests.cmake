# test_tokenizer: word, char and SentencePiece tokenizers (posenc::tokenize); no LibTorch.
add_executable(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.cpp)
target_compile_options(test_tokenizer PRIVATE -Wall -Wextra -Wpedantic)
target_link_libraries(test_tokenizer PRIVATE posenc::tokenize GTest::gtest_main ${CMAKE_DL_LIBS})
gtest_discover_tests(test_tokenizer DISCOVERY_TIMEOUT 60)

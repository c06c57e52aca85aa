# posenc::tokenize — the pipeline's tokenizers (word, char, SentencePiece); no LibTorch.
#
# SentencePiece comes from the system (Debian libsentencepiece-dev): libsentencepiece via pkg-config, the
# trainer library libsentencepiece_train found next to it. libsentencepiece exports its own bundled
# protobuf-lite, which crashes any process that also loads the system libprotobuf (LibTorch does), so
# posenc_tokenize does not link it: everything sentencepiece lives in the module posenc_spm
# (model/spm_shim.cpp, C API model/spm_shim.h), which model/tokenizer_spm.cpp dlopen()s with
# RTLD_LOCAL | RTLD_DEEPBIND on first use. The module is built next to the posenc command
# (${PROJECT_BINARY_DIR}) and installed to ${CMAKE_INSTALL_LIBDIR}/posenc (found as ../lib/posenc/ from
# bin/); POSENC_SPM_MODULE=<path> overrides.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET GLOBAL sentencepiece)
find_library(SENTENCEPIECE_TRAIN_LIBRARY sentencepiece_train HINTS ${SENTENCEPIECE_LIBRARY_DIRS} REQUIRED)

# ---- posenc_spm: the only code linking sentencepiece; exports the posenc_spm_* C functions only -----------
add_library(posenc_spm MODULE ${CMAKE_CURRENT_LIST_DIR}/spm_shim.cpp)
target_include_directories(posenc_spm PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_features(posenc_spm PRIVATE cxx_std_20)
target_compile_options(posenc_spm PRIVATE -Wall -Wextra -Wpedantic)
set_target_properties(posenc_spm PROPERTIES
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
# Hidden visibility still exports the libstdc++ template instances it uses (namespace std is
# visibility("default")): a version script keeps the dynamic symbol table to the C API.
set(_posenc_spm_map ${CMAKE_CURRENT_BINARY_DIR}/posenc_spm.map)
file(CONFIGURE OUTPUT ${_posenc_spm_map} CONTENT "{\n  global: posenc_spm_*;\n  local: *;\n};\n")
target_link_options(posenc_spm PRIVATE LINKER:--no-undefined LINKER:--version-script=${_posenc_spm_map})
set_property(TARGET posenc_spm APPEND PROPERTY LINK_DEPENDS ${_posenc_spm_map})
target_link_libraries(posenc_spm PRIVATE PkgConfig::SENTENCEPIECE ${SENTENCEPIECE_TRAIN_LIBRARY})

# ---- posenc_tokenize: reaches SentencePiece through the module only ---------------------------------------
add_library(posenc_tokenize STATIC
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_spm.cpp
)
add_library(posenc::tokenize ALIAS posenc_tokenize)
target_include_directories(posenc_tokenize PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
target_compile_features(posenc_tokenize PUBLIC cxx_std_20)
target_compile_options(posenc_tokenize PRIVATE -Wall -Wextra -Wpedantic)
target_compile_definitions(posenc_tokenize PRIVATE
  POSENC_SPM_MODULE_NAME="$<TARGET_FILE_NAME:posenc_spm>"
  POSENC_SPM_MODULE_BUILD_PATH="$<TARGET_FILE:posenc_spm>")
target_link_libraries(posenc_tokenize PUBLIC posenc::posenc PRIVATE posenc::io ${CMAKE_DL_LIBS})
# Anything using the tokenizers gets the module built too.
add_dependencies(posenc_tokenize posenc_spm)

if(POSENC_INSTALL)
  include(GNUInstallDirs)
  install(TARGETS posenc_spm LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/posenc)
  # Debian's libdir is lib/<multiarch>: the loader also looks in <exe>/../${CMAKE_INSTALL_LIBDIR}/posenc.
  if(NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" AND NOT CMAKE_INSTALL_LIBDIR STREQUAL "lib")
    target_compile_definitions(posenc_tokenize PRIVATE POSENC_SPM_MODULE_INSTALL_DIR="${CMAKE_INSTALL_LIBDIR}/posenc")
  endif()
endif()

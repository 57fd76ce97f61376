"""DCMTK's symbolic UID names (``uidNameMap[]`` of DCMTK 3.6.7) as accepted in association config files.

DCMTK resolves a config value that does not start with a digit by an exact, case-sensitive
lookup in its own name table (``dcmFindUIDFromName``); names it does not know stay text and then
fail the UID syntax check.  To be a drop-in we must accept exactly DCMTK's 436 names, no more:
pydicom keywords that DCMTK does not know (``ImplicitVRLittleEndian``) must *not* resolve.

Storage: 163 DCMTK names are constants of ``pydicom.uid`` with the same UID, so for those we keep
only the name and take the UID from pydicom; the 16 other pydicom keywords and the 257 names that
differ from pydicom's keywords are listed with their UID.  ``tests/test_asconfig.py`` checks every
name against the installed ``libdcmdata`` (the real ``dcmFindUIDFromName``).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from types import MappingProxyType

# DCMTK_UID_NAMES (name -> UID) is a module attribute built on first use by __getattr__ below;
# it stays out of __all__ so that a star import does not build it.
__all__ = [
    "EXPLICIT_VR_BIG_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "lookup_symbolic_uid",
    "is_valid_uid",
]

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"

# DCMTK names that are also public pydicom.uid constants of the same UID (UID taken from pydicom).
_SAME_AS_PYDICOM: tuple[str, ...] = (
    "JPEGLSLossless", "RLELossless", "JPEG2000", "AcquisitionContextSRStorage",
    "AdvancedBlendingPresentationStateStorage", "AmbulatoryECGWaveformStorage",
    "ArterialPulseWaveformStorage", "AutorefractionMeasurementsStorage",
    "BasicStructuredDisplayStorage", "BasicTextSRStorage", "BasicVoiceAudioWaveformStorage",
    "BlendingSoftcopyPresentationStateStorage", "BodyPositionWaveformStorage",
    "BreastProjectionXRayImageStorageForPresentation",
    "BreastProjectionXRayImageStorageForProcessing", "BreastTomosynthesisImageStorage",
    "CardiacElectrophysiologyWaveformStorage", "CArmPhotonElectronRadiationRecordStorage",
    "CArmPhotonElectronRadiationStorage", "ChestCADSRStorage", "ColonCADSRStorage",
    "ColorPaletteStorage", "ColorSoftcopyPresentationStateStorage",
    "CompositingPlanarMPRVolumetricPresentationStateStorage", "Comprehensive3DSRStorage",
    "ComprehensiveSRStorage", "ComputedRadiographyImageStorage",
    "ContentAssessmentResultsStorage", "CornealTopographyMapStorage",
    "CTDefinedProcedureProtocolStorage", "CTImageStorage",
    "CTPerformedProcedureProtocolStorage", "DeformableSpatialRegistrationStorage",
    "DermoscopicPhotographyImageStorage", "DigitalIntraOralXRayImageStorageForPresentation",
    "DigitalIntraOralXRayImageStorageForProcessing",
    "DigitalMammographyXRayImageStorageForPresentation",
    "DigitalMammographyXRayImageStorageForProcessing", "DigitalXRayImageStorageForPresentation",
    "DigitalXRayImageStorageForProcessing", "ElectromyogramWaveformStorage",
    "ElectrooculogramWaveformStorage", "EncapsulatedCDAStorage", "EncapsulatedMTLStorage",
    "EncapsulatedOBJStorage", "EncapsulatedPDFStorage", "EncapsulatedSTLStorage",
    "EnhancedCTImageStorage", "EnhancedMRColorImageStorage", "EnhancedMRImageStorage",
    "EnhancedPETImageStorage", "EnhancedSRStorage", "EnhancedUSVolumeStorage",
    "EnhancedXAImageStorage", "EnhancedXRayRadiationDoseSRStorage", "EnhancedXRFImageStorage",
    "ExtensibleSRStorage", "GeneralAudioWaveformStorage", "GeneralECGWaveformStorage",
    "GenericImplantTemplateStorage", "GrayscalePlanarMPRVolumetricPresentationStateStorage",
    "GrayscaleSoftcopyPresentationStateStorage", "HangingProtocolStorage",
    "HemodynamicWaveformStorage", "ImplantAssemblyTemplateStorage",
    "ImplantTemplateGroupStorage", "IntraocularLensCalculationsStorage",
    "IntravascularOpticalCoherenceTomographyImageStorageForPresentation",
    "IntravascularOpticalCoherenceTomographyImageStorageForProcessing",
    "KeratometryMeasurementsStorage", "KeyObjectSelectionDocumentStorage",
    "LegacyConvertedEnhancedCTImageStorage", "LegacyConvertedEnhancedMRImageStorage",
    "LegacyConvertedEnhancedPETImageStorage", "LensometryMeasurementsStorage",
    "MacularGridThicknessAndVolumeReportStorage", "MammographyCADSRStorage",
    "MediaStorageDirectoryStorage", "MicroscopyBulkSimpleAnnotationsStorage", "MRImageStorage",
    "MRSpectroscopyStorage", "MultichannelRespiratoryWaveformStorage",
    "MultipleVolumeRenderingVolumetricPresentationStateStorage", "NuclearMedicineImageStorage",
    "OphthalmicAxialMeasurementsStorage",
    "OphthalmicOpticalCoherenceTomographyBscanVolumeAnalysisStorage",
    "OphthalmicOpticalCoherenceTomographyEnFaceImageStorage",
    "OphthalmicPhotography16BitImageStorage", "OphthalmicPhotography8BitImageStorage",
    "OphthalmicThicknessMapStorage", "OphthalmicTomographyImageStorage",
    "OphthalmicVisualFieldStaticPerimetryMeasurementsStorage", "ParametricMapStorage",
    "PatientRadiationDoseSRStorage", "PerformedImagingAgentAdministrationSRStorage",
    "PlannedImagingAgentAdministrationSRStorage", "PositronEmissionTomographyImageStorage",
    "ProcedureLogStorage", "ProtocolApprovalStorage",
    "PseudoColorSoftcopyPresentationStateStorage", "RadiopharmaceuticalRadiationDoseSRStorage",
    "RawDataStorage", "RealWorldValueMappingStorage", "RespiratoryWaveformStorage",
    "RoboticArmRadiationStorage", "RoboticRadiationRecordStorage",
    "RoutineScalpElectroencephalogramWaveformStorage", "RTBeamsDeliveryInstructionStorage",
    "RTBeamsTreatmentRecordStorage", "RTBrachyApplicationSetupDeliveryInstructionStorage",
    "RTBrachyTreatmentRecordStorage", "RTDoseStorage", "RTImageStorage",
    "RTIonBeamsTreatmentRecordStorage", "RTIonPlanStorage", "RTPhysicianIntentStorage",
    "RTPlanStorage", "RTRadiationRecordSetStorage", "RTRadiationSalvageRecordStorage",
    "RTRadiationSetDeliveryInstructionStorage", "RTRadiationSetStorage",
    "RTSegmentAnnotationStorage", "RTStructureSetStorage", "RTTreatmentPreparationStorage",
    "RTTreatmentSummaryRecordStorage", "SecondaryCaptureImageStorage", "SegmentationStorage",
    "SegmentedVolumeRenderingVolumetricPresentationStateStorage",
    "SimplifiedAdultEchoSRStorage", "SleepElectroencephalogramWaveformStorage",
    "SpatialFiducialsStorage", "SpatialRegistrationStorage",
    "SpectaclePrescriptionReportStorage", "StereometricRelationshipStorage",
    "SubjectiveRefractionMeasurementsStorage", "SurfaceScanMeshStorage",
    "SurfaceScanPointCloudStorage", "SurfaceSegmentationStorage",
    "TomotherapeuticRadiationRecordStorage", "TomotherapeuticRadiationStorage",
    "TractographyResultsStorage", "TwelveLeadECGWaveformStorage", "UltrasoundImageStorage",
    "VideoEndoscopicImageStorage", "VideoMicroscopicImageStorage",
    "VideoPhotographicImageStorage", "VisualAcuityMeasurementsStorage",
    "VLEndoscopicImageStorage", "VLMicroscopicImageStorage", "VLPhotographicImageStorage",
    "VLSlideCoordinatesMicroscopicImageStorage", "VLWholeSlideMicroscopyImageStorage",
    "VolumeRenderingVolumetricPresentationStateStorage",
    "WideFieldOphthalmicPhotographyStereographicProjectionImageStorage",
    "WideFieldOphthalmicPhotography3DCoordinatesImageStorage",
    "XADefinedProcedureProtocolStorage", "XAPerformedProcedureProtocolStorage",
    "XAXRFGrayscaleSoftcopyPresentationStateStorage", "XRay3DAngiographicImageStorage",
    "XRay3DCraniofacialImageStorage", "XRayAngiographicImageStorage",
    "XRayRadiationDoseSRStorage", "XRayRadiofluoroscopicImageStorage",
)

# DCMTK names that are pydicom keywords too, but not among pydicom.uid's public constants.
_SAME_AS_PYDICOM_NOT_PUBLIC: dict[str, str] = {
    "JPIPReferenced": "1.2.840.10008.1.2.4.94",
    "JPIPReferencedDeflate": "1.2.840.10008.1.2.4.95",
    "RFC2557MIMEEncapsulation": "1.2.840.10008.1.2.6.1",
    "XMLEncoding": "1.2.840.10008.1.2.6.2",
    "RTConventionalMachineVerification": "1.2.840.10008.5.1.4.34.8",
    "RTIonMachineVerification": "1.2.840.10008.5.1.4.34.9",
    "BreastImagingRelevantPatientInformationQuery": "1.2.840.10008.5.1.4.37.2",
    "CardiacRelevantPatientInformationQuery": "1.2.840.10008.5.1.4.37.3",
    "GeneralRelevantPatientInformationQuery": "1.2.840.10008.5.1.4.37.1",
    "NativeDICOMModel": "1.2.840.10008.7.1.1",
    "AbstractMultiDimensionalImageModel": "1.2.840.10008.7.1.2",
    "VideoEndoscopicImageRealTimeCommunication": "1.2.840.10008.10.1",
    "VideoPhotographicImageRealTimeCommunication": "1.2.840.10008.10.2",
    "AudioWaveformRealTimeCommunication": "1.2.840.10008.10.3",
    "RenditionSelectionDocumentRealTimeCommunication": "1.2.840.10008.10.4",
    "DICOMContentMappingResource": "1.2.840.10008.8.1.1",
}

# DCMTK names that differ from pydicom's keyword (or that pydicom lacks), with their UID.
_DCMTK_ONLY: dict[str, str] = {
    "LittleEndianImplicit": "1.2.840.10008.1.2",
    "LittleEndianExplicit": "1.2.840.10008.1.2.1",
    "BigEndianExplicit": "1.2.840.10008.1.2.2",
    "JPEGBaseline": "1.2.840.10008.1.2.4.50",
    "JPEGExtended:Process2+4": "1.2.840.10008.1.2.4.51",
    "JPEGExtended:Process3+5": "1.2.840.10008.1.2.4.52",
    "JPEGSpectralSelection:Non-hierarchical:Process6+8": "1.2.840.10008.1.2.4.53",
    "JPEGSpectralSelection:Non-hierarchical:Process7+9": "1.2.840.10008.1.2.4.54",
    "JPEGFullProgression:Non-hierarchical:Process10+12": "1.2.840.10008.1.2.4.55",
    "JPEGFullProgression:Non-hierarchical:Process11+13": "1.2.840.10008.1.2.4.56",
    "JPEGLossless:Non-hierarchical:Process14": "1.2.840.10008.1.2.4.57",
    "JPEGLossless:Non-hierarchical:Process15": "1.2.840.10008.1.2.4.58",
    "JPEGExtended:Hierarchical:Process16+18": "1.2.840.10008.1.2.4.59",
    "JPEGExtended:Hierarchical:Process17+19": "1.2.840.10008.1.2.4.60",
    "JPEGSpectralSelection:Hierarchical:Process20+22": "1.2.840.10008.1.2.4.61",
    "JPEGSpectralSelection:Hierarchical:Process21+23": "1.2.840.10008.1.2.4.62",
    "JPEGFullProgression:Hierarchical:Process24+26": "1.2.840.10008.1.2.4.63",
    "JPEGFullProgression:Hierarchical:Process25+27": "1.2.840.10008.1.2.4.64",
    "JPEGLossless:Hierarchical:Process28": "1.2.840.10008.1.2.4.65",
    "JPEGLossless:Hierarchical:Process29": "1.2.840.10008.1.2.4.66",
    "JPEGLossless:Non-hierarchical-1stOrderPrediction": "1.2.840.10008.1.2.4.70",
    "JPEGLSLossy": "1.2.840.10008.1.2.4.81",
    "DeflatedLittleEndianExplicit": "1.2.840.10008.1.2.1.99",
    "JPEG2000LosslessOnly": "1.2.840.10008.1.2.4.90",
    "JPEG2000MulticomponentLosslessOnly": "1.2.840.10008.1.2.4.92",
    "JPEG2000Multicomponent": "1.2.840.10008.1.2.4.93",
    "MPEG2MainProfile@MainLevel": "1.2.840.10008.1.2.4.100",
    "MPEG2MainProfile@HighLevel": "1.2.840.10008.1.2.4.101",
    "MPEG4HighProfile/Level4.1": "1.2.840.10008.1.2.4.102",
    "MPEG4BDcompatibleHighProfile/Level4.1": "1.2.840.10008.1.2.4.103",
    "MPEG4HighProfile/Level4.2For2DVideo": "1.2.840.10008.1.2.4.104",
    "MPEG4HighProfile/Level4.2For3DVideo": "1.2.840.10008.1.2.4.105",
    "MPEG4StereoHighProfile/Level4.2": "1.2.840.10008.1.2.4.106",
    "HEVCMainProfile/Level5.1": "1.2.840.10008.1.2.4.107",
    "HEVCMain10Profile/Level5.1": "1.2.840.10008.1.2.4.108",
    "SMPTEST2110-20:UncompressedProgressiveActiveVideo": "1.2.840.10008.1.2.7.1",
    "SMPTEST2110-20:UncompressedInterlacedActiveVideo": "1.2.840.10008.1.2.7.2",
    "SMPTEST2110-30:PCMDigitalAudio": "1.2.840.10008.1.2.7.3",
    "PrivateGELittleEndianImplicitWithBigEndianPixelData": "1.2.840.113619.5.2",
    "StandardApplicationContext": "1.2.840.10008.3.1.1.1",
    "ImplantationPlanSRDocumentStorage": "1.2.840.10008.5.1.4.1.1.88.70",
    "MultiframeGrayscaleByteSecondaryCaptureImageStorage": "1.2.840.10008.5.1.4.1.1.7.2",
    "MultiframeGrayscaleWordSecondaryCaptureImageStorage": "1.2.840.10008.5.1.4.1.1.7.3",
    "MultiframeSingleBitSecondaryCaptureImageStorage": "1.2.840.10008.5.1.4.1.1.7.1",
    "MultiframeTrueColorSecondaryCaptureImageStorage": "1.2.840.10008.5.1.4.1.1.7.4",
    "UltrasoundMultiframeImageStorage": "1.2.840.10008.5.1.4.1.1.3.1",
    "RETIRED_HardcopyColorImageStorage": "1.2.840.10008.5.1.1.30",
    "RETIRED_HardcopyGrayscaleImageStorage": "1.2.840.10008.5.1.1.29",
    "RETIRED_NuclearMedicineImageStorage": "1.2.840.10008.5.1.4.1.1.5",
    "RETIRED_StandaloneCurveStorage": "1.2.840.10008.5.1.4.1.1.9",
    "RETIRED_StandaloneModalityLUTStorage": "1.2.840.10008.5.1.4.1.1.10",
    "RETIRED_StandaloneOverlayStorage": "1.2.840.10008.5.1.4.1.1.8",
    "RETIRED_StandalonePETCurveStorage": "1.2.840.10008.5.1.4.1.1.129",
    "RETIRED_StandaloneVOILUTStorage": "1.2.840.10008.5.1.4.1.1.11",
    "RETIRED_StoredPrintStorage": "1.2.840.10008.5.1.1.27",
    "RETIRED_UltrasoundImageStorage": "1.2.840.10008.5.1.4.1.1.6",
    "RETIRED_UltrasoundMultiframeImageStorage": "1.2.840.10008.5.1.4.1.1.3",
    "RETIRED_VLImageStorage": "1.2.840.10008.5.1.4.1.1.77.1",
    "RETIRED_VLMultiframeImageStorage": "1.2.840.10008.5.1.4.1.1.77.2",
    "RETIRED_XRayAngiographicBiPlaneImageStorage": "1.2.840.10008.5.1.4.1.1.12.3",
    "DICOS_CTImageStorage": "1.2.840.10008.5.1.4.1.1.501.1",
    "DICOS_DigitalXRayImageStorageForPresentation": "1.2.840.10008.5.1.4.1.1.501.2.1",
    "DICOS_DigitalXRayImageStorageForProcessing": "1.2.840.10008.5.1.4.1.1.501.2.2",
    "DICOS_ThreatDetectionReportStorage": "1.2.840.10008.5.1.4.1.1.501.3",
    "DICOS_2DAITStorage": "1.2.840.10008.5.1.4.1.1.501.4",
    "DICOS_3DAITStorage": "1.2.840.10008.5.1.4.1.1.501.5",
    "DICOS_QuadrupoleResonanceStorage": "1.2.840.10008.5.1.4.1.1.501.6",
    "DICONDE_EddyCurrentImageStorage": "1.2.840.10008.5.1.4.1.1.601.1",
    "DICONDE_EddyCurrentMultiframeImageStorage": "1.2.840.10008.5.1.4.1.1.601.2",
    "FINDPatientRootQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.1.1",
    "FINDStudyRootQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.2.1",
    "GETPatientRootQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.1.3",
    "GETStudyRootQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.2.3",
    "MOVEPatientRootQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.1.2",
    "MOVEStudyRootQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.2.2",
    "RETIRED_FINDPatientStudyOnlyQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.3.1",
    "GETCompositeInstanceRetrieveWithoutBulkData": "1.2.840.10008.5.1.4.1.2.5.3",
    "GETCompositeInstanceRootRetrieve": "1.2.840.10008.5.1.4.1.2.4.3",
    "RETIRED_GETPatientStudyOnlyQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.3.3",
    "MOVECompositeInstanceRootRetrieve": "1.2.840.10008.5.1.4.1.2.4.2",
    "RETIRED_MOVEPatientStudyOnlyQueryRetrieveInformationModel": "1.2.840.10008.5.1.4.1.2.3.2",
    "FINDModalityWorklistInformationModel": "1.2.840.10008.5.1.4.31",
    "RETIRED_FINDGeneralPurposeWorklistInformationModel": "1.2.840.10008.5.1.4.32.1",
    "RETIRED_GeneralPurposePerformedProcedureStepSOPClass": "1.2.840.10008.5.1.4.32.3",
    "RETIRED_GeneralPurposeScheduledProcedureStepSOPClass": "1.2.840.10008.5.1.4.32.2",
    "RETIRED_GeneralPurposeWorklistManagementMetaSOPClass": "1.2.840.10008.5.1.4.32",
    "ModalityPerformedProcedureStepNotificationSOPClass": "1.2.840.10008.3.1.2.3.5",
    "ModalityPerformedProcedureStepRetrieveSOPClass": "1.2.840.10008.3.1.2.3.4",
    "ModalityPerformedProcedureStepSOPClass": "1.2.840.10008.3.1.2.3.3",
    "UnifiedWorklistAndProcedureStepServiceClass": "1.2.840.10008.5.1.4.34.6",
    "UnifiedProcedureStepPushSOPClass": "1.2.840.10008.5.1.4.34.6.1",
    "UnifiedProcedureStepWatchSOPClass": "1.2.840.10008.5.1.4.34.6.2",
    "UnifiedProcedureStepPullSOPClass": "1.2.840.10008.5.1.4.34.6.3",
    "UnifiedProcedureStepEventSOPClass": "1.2.840.10008.5.1.4.34.6.4",
    "UnifiedProcedureStepQuerySOPClass": "1.2.840.10008.5.1.4.34.6.5",
    "UPSGlobalSubscriptionSOPInstance": "1.2.840.10008.5.1.4.34.5",
    "UPSFilteredGlobalSubscriptionSOPInstance": "1.2.840.10008.5.1.4.34.5.1",
    "RETIRED_StorageCommitmentPullModelSOPClass": "1.2.840.10008.1.20.2",
    "RETIRED_StorageCommitmentPullModelSOPInstance": "1.2.840.10008.1.20.2.1",
    "StorageCommitmentPushModelSOPClass": "1.2.840.10008.1.20.1",
    "StorageCommitmentPushModelSOPInstance": "1.2.840.10008.1.20.1.1",
    "FINDHangingProtocolInformationModel": "1.2.840.10008.5.1.4.38.2",
    "MOVEHangingProtocolInformationModel": "1.2.840.10008.5.1.4.38.3",
    "FINDColorPaletteInformationModel": "1.2.840.10008.5.1.4.39.2",
    "MOVEColorPaletteInformationModel": "1.2.840.10008.5.1.4.39.3",
    "GETColorPaletteInformationModel": "1.2.840.10008.5.1.4.39.4",
    "FINDGenericImplantTemplateInformationModel": "1.2.840.10008.5.1.4.43.2",
    "MOVEGenericImplantTemplateInformationModel": "1.2.840.10008.5.1.4.43.3",
    "GETGenericImplantTemplateInformationModel": "1.2.840.10008.5.1.4.43.4",
    "FINDImplantAssemblyTemplateInformationModel": "1.2.840.10008.5.1.4.44.2",
    "MOVEImplantAssemblyTemplateInformationModel": "1.2.840.10008.5.1.4.44.3",
    "GETImplantAssemblyTemplateInformationModel": "1.2.840.10008.5.1.4.44.4",
    "FINDImplantTemplateGroupInformationModel": "1.2.840.10008.5.1.4.45.2",
    "MOVEImplantTemplateGroupInformationModel": "1.2.840.10008.5.1.4.45.3",
    "GETImplantTemplateGroupInformationModel": "1.2.840.10008.5.1.4.45.4",
    "FINDDefinedProcedureProtocolInformationModel": "1.2.840.10008.5.1.4.20.1",
    "MOVEDefinedProcedureProtocolInformationModel": "1.2.840.10008.5.1.4.20.2",
    "GETDefinedProcedureProtocolInformationModel": "1.2.840.10008.5.1.4.20.3",
    "FINDProtocolApprovalInformationModel": "1.2.840.10008.5.1.4.1.1.200.4",
    "MOVEProtocolApprovalInformationModel": "1.2.840.10008.5.1.4.1.1.200.5",
    "GETProtocolApprovalInformationModel": "1.2.840.10008.5.1.4.1.1.200.6",
    "BasicAnnotationBoxSOPClass": "1.2.840.10008.5.1.1.15",
    "BasicColorImageBoxSOPClass": "1.2.840.10008.5.1.1.4.1",
    "BasicColorPrintManagementMetaSOPClass": "1.2.840.10008.5.1.1.18",
    "BasicFilmBoxSOPClass": "1.2.840.10008.5.1.1.2",
    "BasicFilmSessionSOPClass": "1.2.840.10008.5.1.1.1",
    "BasicGrayscaleImageBoxSOPClass": "1.2.840.10008.5.1.1.4",
    "BasicGrayscalePrintManagementMetaSOPClass": "1.2.840.10008.5.1.1.9",
    "PresentationLUTSOPClass": "1.2.840.10008.5.1.1.23",
    "PrintJobSOPClass": "1.2.840.10008.5.1.1.14",
    "PrinterConfigurationRetrievalSOPClass": "1.2.840.10008.5.1.1.16.376",
    "PrinterConfigurationRetrievalSOPInstance": "1.2.840.10008.5.1.1.17.376",
    "PrinterSOPClass": "1.2.840.10008.5.1.1.16",
    "PrinterSOPInstance": "1.2.840.10008.5.1.1.17",
    "RETIRED_BasicPrintImageOverlayBoxSOPClass": "1.2.840.10008.5.1.1.24.1",
    "RETIRED_ImageOverlayBoxSOPClass": "1.2.840.10008.5.1.1.24",
    "RETIRED_PrintQueueManagementSOPClass": "1.2.840.10008.5.1.1.26",
    "RETIRED_PrintQueueSOPInstance": "1.2.840.10008.5.1.1.25",
    "RETIRED_PullPrintRequestSOPClass": "1.2.840.10008.5.1.1.31",
    "RETIRED_PullStoredPrintManagementMetaSOPClass": "1.2.840.10008.5.1.1.32",
    "RETIRED_ReferencedColorPrintManagementMetaSOPClass": "1.2.840.10008.5.1.1.18.1",
    "RETIRED_ReferencedGrayscalePrintManagementMetaSOPClass": "1.2.840.10008.5.1.1.9.1",
    "RETIRED_ReferencedImageBoxSOPClass": "1.2.840.10008.5.1.1.4.2",
    "VOILUTBoxSOPClass": "1.2.840.10008.5.1.1.22",
    "RETIRED_DetachedInterpretationManagementSOPClass": "1.2.840.10008.3.1.2.6.1",
    "RETIRED_DetachedPatientManagementMetaSOPClass": "1.2.840.10008.3.1.2.1.4",
    "RETIRED_DetachedPatientManagementSOPClass": "1.2.840.10008.3.1.2.1.1",
    "RETIRED_DetachedResultsManagementMetaSOPClass": "1.2.840.10008.3.1.2.5.4",
    "RETIRED_DetachedResultsManagementSOPClass": "1.2.840.10008.3.1.2.5.1",
    "RETIRED_DetachedStudyManagementMetaSOPClass": "1.2.840.10008.3.1.2.5.5",
    "RETIRED_DetachedStudyManagementSOPClass": "1.2.840.10008.3.1.2.3.1",
    "RETIRED_DetachedVisitManagementSOPClass": "1.2.840.10008.3.1.2.2.1",
    "ProceduralEventLoggingSOPClass": "1.2.840.10008.1.40",
    "ProceduralEventLoggingSOPInstance": "1.2.840.10008.1.40.1",
    "SubstanceAdministrationLoggingSOPClass": "1.2.840.10008.1.42",
    "SubstanceAdministrationLoggingSOPInstance": "1.2.840.10008.1.42.1",
    "ProductCharacteristicsQuerySOPClass": "1.2.840.10008.5.1.4.41",
    "SubstanceApprovalQuerySOPClass": "1.2.840.10008.5.1.4.42",
    "MediaCreationManagementSOPClass": "1.2.840.10008.5.1.1.33",
    "StorageServiceClass": "1.2.840.10008.4.2",
    "InstanceAvailabilityNotificationSOPClass": "1.2.840.10008.5.1.4.33",
    "DisplaySystemSOPClass": "1.2.840.10008.5.1.1.40",
    "DisplaySystemSOPInstance": "1.2.840.10008.5.1.1.40.1",
    "RETIRED_BasicStudyContentNotificationSOPClass": "1.2.840.10008.1.9",
    "RETIRED_StudyComponentManagementSOPClass": "1.2.840.10008.3.1.2.3.2",
    "VerificationSOPClass": "1.2.840.10008.1.1",
    "DICOMControlledTerminologyCodingScheme": "1.2.840.10008.2.16.4",
    "DICOMUIDRegistryCodingScheme": "1.2.840.10008.2.6.1",
    "LDAP_dicomAETitle": "1.2.840.10008.15.0.3.7",
    "LDAP_dicomApplicationCluster": "1.2.840.10008.15.0.3.9",
    "LDAP_dicomAssociationAcceptor": "1.2.840.10008.15.0.3.11",
    "LDAP_dicomAssociationInitiator": "1.2.840.10008.15.0.3.10",
    "LDAP_dicomAuthorizedNodeCertificateReference": "1.2.840.10008.15.0.3.21",
    "LDAP_dicomConfigurationRoot": "1.2.840.10008.15.0.4.1",
    "LDAP_dicomDescription": "1.2.840.10008.15.0.3.2",
    "LDAP_dicomDevice": "1.2.840.10008.15.0.4.4",
    "LDAP_dicomDeviceName": "1.2.840.10008.15.0.3.1",
    "LDAP_dicomDeviceSerialNumber": "1.2.840.10008.15.0.3.25",
    "LDAP_dicomDevicesRoot": "1.2.840.10008.15.0.4.2",
    "LDAP_dicomHostname": "1.2.840.10008.15.0.3.12",
    "LDAP_dicomInstalled": "1.2.840.10008.15.0.3.23",
    "LDAP_dicomInstitutionAddress": "1.2.840.10008.15.0.3.27",
    "LDAP_dicomInstitutionDepartmentName": "1.2.840.10008.15.0.3.28",
    "LDAP_dicomInstitutionName": "1.2.840.10008.15.0.3.26",
    "LDAP_dicomIssuerOfPatientID": "1.2.840.10008.15.0.3.29",
    "LDAP_dicomManufacturer": "1.2.840.10008.15.0.3.3",
    "LDAP_dicomManufacturerModelName": "1.2.840.10008.15.0.3.4",
    "LDAP_dicomNetworkAE": "1.2.840.10008.15.0.4.5",
    "LDAP_dicomNetworkConnection": "1.2.840.10008.15.0.4.6",
    "LDAP_dicomNetworkConnectionReference": "1.2.840.10008.15.0.3.8",
    "LDAP_dicomPort": "1.2.840.10008.15.0.3.13",
    "LDAP_dicomPreferredCalledAETitle": "1.2.840.10008.15.0.3.19",
    "LDAP_dicomPreferredCallingAETitle": "1.2.840.10008.15.0.3.30",
    "LDAP_dicomPrimaryDeviceType": "1.2.840.10008.15.0.3.17",
    "LDAP_dicomRelatedDeviceReference": "1.2.840.10008.15.0.3.18",
    "LDAP_dicomSOPClass": "1.2.840.10008.15.0.3.14",
    "LDAP_dicomSoftwareVersion": "1.2.840.10008.15.0.3.5",
    "LDAP_dicomStationName": "1.2.840.10008.15.0.3.24",
    "LDAP_dicomSupportedCharacterSet": "1.2.840.10008.15.0.3.31",
    "LDAP_dicomTLSCyphersuite": "1.2.840.10008.15.0.3.20",
    "LDAP_dicomThisNodeCertificateReference": "1.2.840.10008.15.0.3.22",
    "LDAP_dicomTransferCapability": "1.2.840.10008.15.0.4.8",
    "LDAP_dicomTransferRole": "1.2.840.10008.15.0.3.15",
    "LDAP_dicomTransferSyntax": "1.2.840.10008.15.0.3.16",
    "LDAP_dicomUniqueAETitle": "1.2.840.10008.15.0.4.7",
    "LDAP_dicomUniqueAETitlesRegistryRoot": "1.2.840.10008.15.0.4.3",
    "LDAP_dicomVendorData": "1.2.840.10008.15.0.3.6",
    "ICBM452T1FrameOfReference": "1.2.840.10008.1.4.2.1",
    "ICBMSingleSubjectMRIFrameOfReference": "1.2.840.10008.1.4.2.2",
    "IEC61217FixedCoordinateSystemFrameOfReference": "1.2.840.10008.1.4.3.1",
    "IEC61217TableTopCoordinateSystemFrameOfReference": "1.2.840.10008.1.4.3.3",
    "SPM2AVG152PDFrameOfReference": "1.2.840.10008.1.4.1.17",
    "SPM2AVG152T1FrameOfReference": "1.2.840.10008.1.4.1.15",
    "SPM2AVG152T2FrameOfReference": "1.2.840.10008.1.4.1.16",
    "SPM2AVG305T1FrameOfReference": "1.2.840.10008.1.4.1.14",
    "SPM2BRAINMASKFrameOfReference": "1.2.840.10008.1.4.1.13",
    "SPM2CSFFrameOfReference": "1.2.840.10008.1.4.1.12",
    "SPM2EPIFrameOfReference": "1.2.840.10008.1.4.1.5",
    "SPM2FILT1FrameOfReference": "1.2.840.10008.1.4.1.6",
    "SPM2GRAYFrameOfReference": "1.2.840.10008.1.4.1.10",
    "SPM2PDFrameOfReference": "1.2.840.10008.1.4.1.4",
    "SPM2PETFrameOfReference": "1.2.840.10008.1.4.1.7",
    "SPM2SINGLESUBJT1FrameOfReference": "1.2.840.10008.1.4.1.18",
    "SPM2SPECTFrameOfReference": "1.2.840.10008.1.4.1.9",
    "SPM2T1FrameOfReference": "1.2.840.10008.1.4.1.2",
    "SPM2T2FrameOfReference": "1.2.840.10008.1.4.1.3",
    "SPM2TRANSMFrameOfReference": "1.2.840.10008.1.4.1.8",
    "SPM2WHITEFrameOfReference": "1.2.840.10008.1.4.1.11",
    "StandardRoboticCoordinateSystemFrameOfReference": "1.2.840.10008.1.4.3.2",
    "TalairachBrainAtlasFrameOfReference": "1.2.840.10008.1.4.1.1",
    "SRI24FrameOfReferenc": "1.2.840.10008.1.4.4.1",
    "Colin27FrameOfReference": "1.2.840.10008.1.4.5.1",
    "LPBA40AIRFrameOfReference": "1.2.840.10008.1.4.6.1",
    "LPBA40FLIRTFrameOfReference": "1.2.840.10008.1.4.6.2",
    "LPBA40SPM5FrameOfReference": "1.2.840.10008.1.4.6.3",
    "UniversalCoordinatedTimeSynchronizationFrameOfReference": "1.2.840.10008.15.1.1",
    "HotIronColorPaletteSOPInstance": "1.2.840.10008.1.5.1",
    "HotMetalBlueColorPaletteSOPInstance": "1.2.840.10008.1.5.3",
    "PET20StepColorPaletteSOPInstance": "1.2.840.10008.1.5.4",
    "PETColorPaletteSOPInstance": "1.2.840.10008.1.5.2",
    "SpringColorPaletteSOPInstance": "1.2.840.10008.1.5.5",
    "SummerColorPaletteSOPInstance": "1.2.840.10008.1.5.6",
    "FallColorPaletteSOPInstance": "1.2.840.10008.1.5.7",
    "WinterColorPaletteSOPInstance": "1.2.840.10008.1.5.8",
    "DRAFT_RTBeamsDeliveryInstructionStorage": "1.2.840.10008.5.1.4.34.1",
    "DRAFT_RTConventionalMachineVerification": "1.2.840.10008.5.1.4.34.2",
    "DRAFT_RTIonMachineVerification": "1.2.840.10008.5.1.4.34.3",
    "DRAFT_SRAudioStorage": "1.2.840.10008.5.1.4.1.1.88.2",
    "DRAFT_SRComprehensiveStorage": "1.2.840.10008.5.1.4.1.1.88.4",
    "DRAFT_SRDetailStorage": "1.2.840.10008.5.1.4.1.1.88.3",
    "DRAFT_SRTextStorage": "1.2.840.10008.5.1.4.1.1.88.1",
    "DRAFT_WaveformStorage": "1.2.840.10008.5.1.4.1.1.9.1",
    "DRAFT_UnifiedWorklistAndProcedureStepServiceClass": "1.2.840.10008.5.1.4.34.4",
    "DRAFT_UnifiedProcedureStepPushSOPClass": "1.2.840.10008.5.1.4.34.4.1",
    "DRAFT_UnifiedProcedureStepWatchSOPClass": "1.2.840.10008.5.1.4.34.4.2",
    "DRAFT_UnifiedProcedureStepPullSOPClass": "1.2.840.10008.5.1.4.34.4.3",
    "DRAFT_UnifiedProcedureStepEventSOPClass": "1.2.840.10008.5.1.4.34.4.4",
}


@functools.cache
def _build_table() -> Mapping[str, str]:
    """Join both halves into one read-only name -> UID map (fails loudly if pydicom lost a keyword).

    Built on first use: importing pydicom costs ~34 MB, which a worker (it receives
    resolved UIDs) never needs to pay.
    """
    import pydicom.uid

    table = {}
    for name in _SAME_AS_PYDICOM:
        uid = getattr(pydicom.uid, name, None)
        if not isinstance(uid, str):  # pragma: no cover - only with an incompatible pydicom
            raise ImportError(f"pydicom.uid no longer has the UID constant {name!r}")
        table[name] = str(uid)
    table.update(_SAME_AS_PYDICOM_NOT_PUBLIC)
    table.update(_DCMTK_ONLY)
    return MappingProxyType(table)



def __getattr__(name: str):
    if name == "DCMTK_UID_NAMES":      # Mapping[str, str], built on first use
        return _build_table()
    raise AttributeError(name)


_LOCAL, _OPPOSITE = (
    (EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN)
    if sys.byteorder == "little"
    else (EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)
)


def lookup_symbolic_uid(text: str) -> str:
    """Resolve a config value the way ``DcmUIDHandler::lookupSymbolicUID`` does.

    Values starting with a digit are returned unchanged; otherwise one leading ``=`` is skipped,
    ``LocalEndianExplicit``/``OppositeEndianExplicit`` follow the host byte order, and any other
    name is looked up exactly.  An unknown name is returned unchanged (it then fails
    :func:`is_valid_uid`, as in DCMTK).
    """
    if not text or "0" <= text[0] <= "9":
        return text
    name = text[1:] if text[0] == "=" else text
    if name == "LocalEndianExplicit":
        return _LOCAL
    if name == "OppositeEndianExplicit":
        return _OPPOSITE
    return _build_table().get(name, text)


def is_valid_uid(uid: str) -> bool:
    """DCMTK's only UID check in config files: non-empty, digits and dots only."""
    return bool(uid) and all(c == "." or "0" <= c <= "9" for c in uid)
